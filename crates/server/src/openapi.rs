//! The OpenAPI document served at `/api/v1/openapi.json`, kept next to the
//! routes it describes. It is meant to be true enough for a fuzzer: every
//! status a route can answer is listed, every error has the one `Error`
//! shape, and apps and environments are the ones of the server's
//! `haul.toml` (anything else is a 422, listed too).

use serde_json::{Value, json};

/// The error statuses every route may answer (each with the `Error` shape):
/// bad input, tokens and scopes, unknown records, conflicts, body limits and
/// types, invalid fields, and the database failing.
pub(crate) const ERRORS: [&str; 9] = ["400", "401", "403", "404", "409", "413", "415", "422", "500"];

/// The `responses` of an operation: `ok` and every error.
pub(crate) fn responses(ok: &str) -> Value {
    let mut r = serde_json::Map::new();
    r.insert(ok.into(), json!({ "description": "done" }));
    for e in ERRORS {
        r.insert(e.into(), json!({ "$ref": "#/components/responses/Error" }));
    }
    Value::Object(r)
}

fn op(summary: &str, scope: &str, ok: &str) -> Value {
    json!({
        "summary": summary,
        "security": [{ "bearer": [] }],
        "x-haul-scope": scope,
        "responses": responses(ok)
    })
}

pub fn document(config: &haul_config::Config) -> Value {
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } }]);
    let apps: Vec<&String> = config.apps.keys().map(|k| k.get_ref()).collect();
    let envs: Vec<&String> = config.environments.keys().map(|k| k.get_ref()).collect();
    let promotable: Vec<&String> =
        config.environments.iter().filter(|(_, e)| e.code.get_ref() != "build").map(|(k, _)| k.get_ref()).collect();
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "haul ledger API", "version": "1" },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "what went wrong",
                    "headers": { "x-request-id": { "schema": { "type": "string" } } },
                    "content": { "application/json": { "schema": {
                        "type": "object", "required": ["error"],
                        "properties": { "error": { "type": "object", "required": ["status", "message", "request_id"], "properties": {
                            "status": { "type": "integer" }, "message": { "type": "string" },
                            "request_id": { "type": "string", "description": "also in the `x-request-id` header and in the server's log line of a 500" },
                            "field": { "type": "string", "description": "the field at fault, for a 422 about one" },
                            "candidates": { "type": "array", "description": "a refused promotion's candidates and what each lacks" }
                        }}}
                    }}}
                }
            }
        },
        "paths": {
            "/api/v1/deployments": { "post": with(op("Start a deployment (status running) once the gate lets its release in, whatever the trigger: an unregistered release is 404; a quarantined one, one that did not come from the environment's upstream or does not meet its requirements, or any deployment while another runs, is 409 (`refusals`, `candidates`); `force` (with the `admin` scope and a `reason`) breaks glass and is recorded as forced", "deploy", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "env", "release", "trigger", "config_digest"], "additionalProperties": false,
                "properties": { "app": { "type": "string", "enum": apps }, "env": { "type": "string", "enum": envs }, "release": { "type": "string" },
                    "trigger": { "enum": ["deploy", "promote", "rollback"] }, "reason": { "type": "string" }, "config_digest": { "type": "string" },
                    "undoes": { "type": "integer" }, "on_behalf_of": { "type": "string" }, "force": { "type": "boolean" },
                    "runner": { "type": "object", "description": "the process running it", "required": ["machine", "pid"], "additionalProperties": false,
                        "properties": { "machine": { "type": "string" }, "pid": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 },
                            "boot": { "type": "string" }, "pidns": { "type": "string" }, "start": { "type": "integer", "minimum": 0, "maximum": i64::MAX } } } }
            }))})),
            "get": with(op("Deployments, newest first; `next_before` pages on", "read or verify", "200"), json!({
                "parameters": [
                    { "name": "app", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "integer", "format": "int64" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
                ]
            }))},
            "/api/v1/deployments/{id}": { "get": with(op("A deployment with its hosts and verifications", "read", "200"), json!({ "parameters": id })) },
            "/api/v1/deployments/{id}/verifications": { "post": with(
                op("Report a verification; a newer report of a name supersedes older ones", "verify", "201"),
                json!({ "parameters": id, "requestBody": body(json!({
                    "type": "object", "required": ["name", "result"], "additionalProperties": false,
                    "properties": { "name": { "type": "string" }, "result": { "enum": ["pass", "fail", "error"] }, "link": { "type": "string" } }
                }))})
            )},
            "/api/v1/deployments/{id}/hosts": { "post": with(op("Record or update one host's part while the deployment runs", "deploy", "200"), json!({ "parameters": id, "requestBody": body(host_result()) })) },
            "/api/v1/deployments/{id}/finish": { "post": with(op("End a running deployment with its outcome and every host's result", "deploy", "200"), json!({ "parameters": id, "requestBody": body(json!({
                "type": "object", "required": ["status"], "additionalProperties": false,
                "properties": { "status": { "enum": ["succeeded", "failed", "switched_back"] }, "message": { "type": "string" },
                    "hosts": { "type": "array", "items": host_result() } }
            }))})) },
            "/api/v1/deployments/{id}/lease": { "post": with(op("Renew a running deployment's lease for the server's `[lock] lease` (409 once it is no longer running)", "deploy", "200"), json!({ "parameters": id })) },
            "/api/v1/deployments/close": { "post": with(op("Close, as failed with a reason, what is still recorded as running of an app in an environment", "deploy", "200"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "env", "reason"], "additionalProperties": false,
                "properties": { "app": { "type": "string", "enum": apps }, "env": { "type": "string", "enum": envs }, "reason": { "type": "string" }, "on_behalf_of": { "type": "string" } }
            }))})) },
            "/api/v1/releases": {
                "post": with(op("Register a built release (201 when new, 200 when already recorded with the same digest)", "deploy", "201"), json!({ "requestBody": body(json!({
                    "type": "object", "required": ["app", "id", "digest", "built_by", "created", "files", "bytes"], "additionalProperties": false,
                    "properties": { "app": { "type": "string", "enum": apps }, "id": { "type": "string", "minLength": 1 }, "digest": { "type": "string", "minLength": 1 }, "revision": { "type": "string" },
                        "built_by": { "type": "string" }, "created": { "type": "string" }, "files": { "type": "integer" }, "bytes": { "type": "integer" } }
                }))})),
                "get": with(op("An app's releases, newest first; `next_before` pages on", "read", "200"), json!({ "parameters": [
                    { "name": "app", "in": "query", "required": true, "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "string" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
                ]}))
            },
            "/api/v1/promotions": { "post": with(op("Pick the newest release that qualifies (or `release`) and start its promotion; 409 lists every unmet requirement of every candidate", "deploy", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "env"], "additionalProperties": false,
                "properties": { "app": { "type": "string", "enum": apps }, "env": { "type": "string", "enum": promotable }, "release": { "type": "string" },
                    "reason": { "type": "string" }, "on_behalf_of": { "type": "string" } }
            }))})) },
            "/api/v1/promotions/{app}/{env}": { "get": with(op("Candidates for an environment and what each lacks", "read or deploy", "200"), json!({ "parameters": app_env(&apps, &promotable) })) },
            "/api/v1/apps/{app}/envs/{env}": { "get": with(op("What the environment runs by the ledger, its last verified release, and the app's quarantined releases", "read or deploy", "200"), json!({ "parameters": app_env(&apps, &envs) })) },
            "/api/v1/events": { "get": with(op("Events (every ledger write) after `after`, oldest first; `next_after` pages on", "read", "200"), json!({ "parameters": events(true) })) },
            "/api/v1/events/stream": { "get": with(op("Follow events live as Server-Sent Events (`id` is the event number; send `Last-Event-ID` to resume)", "read", "200"), json!({ "parameters": events(false) })) },
            "/api/v1/approvals": {
                "get": with(op("Approvals of an app, newest first; `next_before` pages on", "read", "200"), json!({ "parameters": [
                    { "name": "app", "in": "query", "required": true, "schema": { "type": "string" } },
                    { "name": "release", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "integer", "format": "int64" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
                ]})),
                "post": with(op("Approve a release for an environment", "approve", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "env"], "additionalProperties": false,
                "properties": { "app": { "type": "string", "enum": apps }, "release": { "type": "string" }, "env": { "type": "string", "enum": envs }, "comment": { "type": "string" } }
            }))}))},
            "/api/v1/quarantines": {
                "get": with(op("The quarantined releases of an app", "read", "200"), json!({ "parameters": [
                    { "name": "app", "in": "query", "required": true, "schema": { "type": "string" } }
                ]})),
                "post": with(op("Quarantine a release", "admin", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "reason"], "additionalProperties": false,
                "properties": { "app": { "type": "string", "enum": apps }, "release": { "type": "string" }, "reason": { "type": "string" } }
            }))}))},
            "/api/v1/audit/verify": { "get": op("Check the audit chain", "admin", "200") },
            "/api/v1/openapi.json": { "get": op("This document", "read", "200") },
            "/healthz": { "get": { "summary": "Whether the server and its database answer (no token needed)", "responses": {
                "200": { "description": "ok" }, "500": { "$ref": "#/components/responses/Error" }
            } } },
            "/metrics": { "get": op("Prometheus metrics (text format)", "read", "200") }
        }
    });
    let Value::Object(webhooks) = crate::webhooks::openapi_paths() else { unreachable!("an object") };
    doc["paths"].as_object_mut().expect("an object").extend(webhooks);
    for item in doc["paths"].as_object_mut().expect("an object").values_mut() {
        constrain(item, "");
    }
    doc["paths"]["/api/v1/releases"]["post"]["responses"]["200"] = json!({ "description": "already recorded" });
    // Release ids follow the release crate's rule where the server checks it.
    let id_rule = json!("^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$");
    for (path, field) in [("/api/v1/deployments", "release"), ("/api/v1/releases", "id")] {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"][field]["pattern"] =
            id_rule.clone();
    }
    // Breaking glass must say why: `force: true` needs a reason that is not
    // blank (JSON Schema 2020-12, as OpenAPI 3.1 uses).
    let start =
        &mut doc["paths"]["/api/v1/deployments"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    start["if"] = json!({ "properties": { "force": { "const": true } }, "required": ["force"] });
    start["then"] =
        json!({ "required": ["reason"], "properties": { "reason": { "type": "string", "pattern": "\\S" } } });
    for path in ["/api/v1/deployments", "/api/v1/promotions", "/api/v1/deployments/close"] {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["on_behalf_of"]
            ["maxLength"] = json!(crate::records::MAX_ON_BEHALF_OF);
    }
    doc
}

/// Characters no text may hold (the ledger's text rule): every control
/// character, as a regex class body; a block may also hold tabs and line
/// breaks.
const LINE_CONTROLS: &str = "\\x00-\\x1f\\x7f-\\x9f";
const BLOCK_CONTROLS: &str = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f";

/// Writes the text rule into every string schema (a pattern and a length
/// bound by the field's kind; names and reasons that must not be blank say
/// so), and makes optional body fields nullable, as the server takes them.
fn constrain(v: &mut Value, key: &str) {
    use haul_ledger::text::{Kind, MAX_BLOCK, MAX_LINE};
    // `!name`: a field that must not be blank.
    let (nonblank, key) = key.strip_prefix('!').map_or((false, key), |k| (true, k));
    let Value::Object(o) = v else {
        if let Value::Array(items) = v {
            items.iter_mut().for_each(|i| constrain(i, key));
        }
        return;
    };
    if o.get("type") == Some(&json!("integer")) && !o.contains_key("format") {
        o.insert("format".into(), json!("int64"));
    }
    if o.get("type") == Some(&json!("string")) && !o.contains_key("enum") {
        let (controls, max) = match Kind::of(key) {
            Kind::Line => (LINE_CONTROLS, MAX_LINE),
            Kind::Block => (BLOCK_CONTROLS, MAX_BLOCK),
        };
        let pattern = if nonblank {
            format!("^[^{controls}]*[^\\s{controls}][^{controls}]*$")
        } else {
            format!("^[^{controls}]*$")
        };
        o.insert("pattern".into(), json!(pattern));
        o.insert("maxLength".into(), json!(max));
    }
    if let (Some(Value::Object(props)), required) = (o.get("properties").cloned(), o.get("required").cloned()) {
        let required: Vec<Value> = required.and_then(|r| r.as_array().cloned()).unwrap_or_default();
        let mut props = props;
        for (name, schema) in props.iter_mut() {
            // A required name or reason must say something.
            let blank_refused = matches!(name.as_str(), "name" | "reason") && required.contains(&json!(name));
            constrain(schema, &if blank_refused { format!("!{name}") } else { name.clone() });
            if !required.contains(&json!(name))
                && let Some(t @ Value::String(_)) = schema.get("type").cloned()
            {
                schema["type"] = json!([t, "null"]);
            }
        }
        o.insert("properties".into(), Value::Object(props));
    }
    let param = o.get("in").is_some().then(|| o.get("name").and_then(Value::as_str).unwrap_or_default().to_string());
    for (k, child) in o.iter_mut().filter(|(k, _)| k.as_str() != "properties") {
        match (&param, k.as_str()) {
            (Some(name), "schema") => constrain(child, name),
            _ => constrain(child, key),
        }
    }
}

fn host_result() -> Value {
    json!({
        "type": "object", "required": ["host", "phase", "status", "elapsed_ms"], "additionalProperties": false,
        "properties": { "host": { "type": "string" }, "phase": { "type": "string" }, "status": { "type": "string" },
            "error": { "type": "string" }, "elapsed_ms": { "type": "integer" } }
    })
}

fn app_env(apps: &[&String], envs: &[&String]) -> Value {
    json!([
        { "name": "app", "in": "path", "required": true, "schema": { "type": "string", "enum": apps } },
        { "name": "env", "in": "path", "required": true, "schema": { "type": "string", "enum": envs } }
    ])
}

/// The filters of the event feed; a page also takes `limit`.
fn events(paged: bool) -> Value {
    let mut p = vec![
        json!({ "name": "after", "in": "query", "schema": { "type": "integer", "format": "int64" } }),
        json!({ "name": "app", "in": "query", "schema": { "type": "string" } }),
        json!({ "name": "env", "in": "query", "schema": { "type": "string" } }),
        json!({ "name": "kinds", "in": "query", "description": "comma separated; `deployment.*` takes a family", "schema": { "type": "string" } }),
    ];
    if paged {
        p.push(
            json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }),
        );
    }
    Value::Array(p)
}

/// `op` with `extra`'s fields added.
fn with(mut op: Value, extra: Value) -> Value {
    if let (Value::Object(o), Value::Object(e)) = (&mut op, extra) {
        o.extend(e);
    }
    op
}

/// A required JSON request body with `schema`.
fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

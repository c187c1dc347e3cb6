//! The OpenAPI document served at `/api/v1/openapi.json`, kept next to the
//! routes it describes.

use serde_json::{Value, json};

fn op(summary: &str, scope: &str, ok: &str) -> Value {
    json!({
        "summary": summary,
        "security": [{ "bearer": [] }],
        "x-haul-scope": scope,
        "responses": {
            ok: { "description": "done" },
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
            "403": { "$ref": "#/components/responses/Error" },
            "404": { "$ref": "#/components/responses/Error" },
            "409": { "$ref": "#/components/responses/Error" },
            "413": { "$ref": "#/components/responses/Error" },
            "422": { "$ref": "#/components/responses/Error" }
        }
    })
}

pub fn document() -> Value {
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "haul ledger API", "version": "1" },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "what went wrong",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": { "error": { "type": "object", "properties": {
                            "status": { "type": "integer" }, "message": { "type": "string" }
                        }}}
                    }}}
                }
            }
        },
        "paths": {
            "/api/v1/deployments": { "post": with(op("Start a deployment (status running) once the gate lets its release in, whatever the trigger: an unregistered release is 422; a quarantined one, one that did not come from the environment's upstream or does not meet its requirements, or any deployment while another runs, is 409 (`refusals`, `candidates`); `force` (with the `admin` scope and a `reason`) breaks glass and is recorded as forced", "deploy", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "env", "release", "trigger", "config_digest"], "additionalProperties": false,
                "properties": { "app": { "type": "string" }, "env": { "type": "string" }, "release": { "type": "string" },
                    "trigger": { "enum": ["deploy", "promote", "rollback"] }, "reason": { "type": "string" }, "config_digest": { "type": "string" },
                    "undoes": { "type": "integer" }, "on_behalf_of": { "type": "string" }, "force": { "type": "boolean" },
                    "runner": { "type": "object", "description": "the process running it: machine, pid, boot, pidns, start" } }
            }))})),
            "get": with(op("Deployments, newest first; `next_before` pages on", "read or verify", "200"), json!({
                "parameters": [
                    { "name": "app", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "integer" } },
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
                "properties": { "app": { "type": "string" }, "env": { "type": "string" }, "reason": { "type": "string" }, "on_behalf_of": { "type": "string" } }
            }))})) },
            "/api/v1/releases": {
                "post": with(op("Register a built release (201 when new, 200 when already recorded with the same digest)", "deploy", "201"), json!({ "requestBody": body(json!({
                    "type": "object", "required": ["app", "id", "digest", "built_by", "created", "files", "bytes"], "additionalProperties": false,
                    "properties": { "app": { "type": "string" }, "id": { "type": "string" }, "digest": { "type": "string" }, "revision": { "type": "string" },
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
                "properties": { "app": { "type": "string" }, "env": { "type": "string" }, "release": { "type": "string" },
                    "reason": { "type": "string" }, "on_behalf_of": { "type": "string" } }
            }))})) },
            "/api/v1/promotions/{app}/{env}": { "get": with(op("Candidates for an environment and what each lacks", "read or deploy", "200"), json!({ "parameters": app_env() })) },
            "/api/v1/apps/{app}/envs/{env}": { "get": with(op("What the environment runs by the ledger, its last verified release, and the app's quarantined releases", "read or deploy", "200"), json!({ "parameters": app_env() })) },
            "/api/v1/events": { "get": with(op("Events (every ledger write) after `after`, oldest first; `next_after` pages on", "read", "200"), json!({ "parameters": events(true) })) },
            "/api/v1/events/stream": { "get": with(op("Follow events live as Server-Sent Events (`id` is the event number; send `Last-Event-ID` to resume)", "read", "200"), json!({ "parameters": events(false) })) },
            "/api/v1/approvals": {
                "get": with(op("Approvals of an app, newest first; `next_before` pages on", "read", "200"), json!({ "parameters": [
                    { "name": "app", "in": "query", "required": true, "schema": { "type": "string" } },
                    { "name": "release", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "integer" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
                ]})),
                "post": with(op("Approve a release for an environment", "approve", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "env"], "additionalProperties": false,
                "properties": { "app": { "type": "string" }, "release": { "type": "string" }, "env": { "type": "string" }, "comment": { "type": "string" } }
            }))}))},
            "/api/v1/quarantines": {
                "get": with(op("The quarantined releases of an app", "read", "200"), json!({ "parameters": [
                    { "name": "app", "in": "query", "required": true, "schema": { "type": "string" } }
                ]})),
                "post": with(op("Quarantine a release", "admin", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "reason"], "additionalProperties": false,
                "properties": { "app": { "type": "string" }, "release": { "type": "string" }, "reason": { "type": "string" } }
            }))}))},
            "/api/v1/audit/verify": { "get": op("Check the audit chain", "admin", "200") },
            "/healthz": { "get": { "summary": "Whether the server and its database answer", "responses": { "200": { "description": "ok" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text" } } } }
        }
    });
    let Value::Object(webhooks) = crate::webhooks::openapi_paths() else { unreachable!("an object") };
    doc["paths"].as_object_mut().expect("an object").extend(webhooks);
    doc
}

fn host_result() -> Value {
    json!({
        "type": "object", "required": ["host", "phase", "status", "elapsed_ms"], "additionalProperties": false,
        "properties": { "host": { "type": "string" }, "phase": { "type": "string" }, "status": { "type": "string" },
            "error": { "type": "string" }, "elapsed_ms": { "type": "integer" } }
    })
}

fn app_env() -> Value {
    json!([
        { "name": "app", "in": "path", "required": true, "schema": { "type": "string" } },
        { "name": "env", "in": "path", "required": true, "schema": { "type": "string" } }
    ])
}

/// The filters of the event feed; a page also takes `limit`.
fn events(paged: bool) -> Value {
    let mut p = vec![
        json!({ "name": "after", "in": "query", "schema": { "type": "integer" } }),
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

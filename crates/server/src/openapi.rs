//! The OpenAPI document served at `/api/v1/openapi.json`, generated from the
//! routes themselves: each handler's `#[utoipa::path]` (its path, method,
//! scope and answers) and the `haul_api` types it reads and answers with,
//! collected by the same router that serves them, so the document cannot
//! list a route the server lacks or miss one it serves.
//!
//! It is meant to be true enough for a fuzzer. What the types cannot say is
//! added here, in one pass over the generated document: the ledger's text
//! rule (`edge.rs` refuses control characters and over-long text in every
//! string of a request, by the field's kind; names and reasons that must
//! not be blank), the apps and environments of the server's `haul.toml`
//! (anything else is a 422), and that breaking glass (`force`) needs a
//! reason (an `if`/`then`, which utoipa does not express).

use haul_api::responses::ErrorBody;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response};

/// The error statuses every route may answer (each with the `Error` shape):
/// bad input, tokens and scopes, unknown records, conflicts, body limits and
/// types, invalid fields, the database failing (500) or away (503), and
/// the object store behind the server failing (502).
pub(crate) const ERRORS: [&str; 11] = ["400", "401", "403", "404", "409", "413", "415", "422", "500", "502", "503"];

/// Every error a route may answer, each the one `Error` response.
pub(crate) struct Errors;

impl utoipa::IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        ERRORS.iter().map(|s| (s.to_string(), RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")))).collect()
    }
}

/// The document as generated from the routes, before the pass.
fn generated() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = crate::api::routes().split_for_parts();
        serde_json::to_value(doc).expect("a document serializes")
    })
}

pub fn document(config: &haul_config::Config) -> Value {
    let mut doc = generated().clone();
    let apps: Vec<&String> = config.apps.keys().map(|k| k.get_ref()).collect();
    let envs: Vec<&String> = config.environments.keys().map(|k| k.get_ref()).collect();
    let promotable: Vec<&String> =
        config.environments.iter().filter(|(_, e)| e.code.get_ref() != "build").map(|(k, _)| k.get_ref()).collect();
    doc["info"] = json!({ "title": "haul ledger API", "version": "1" });
    let mut error_schemas = vec![("ErrorBody".to_string(), <ErrorBody as utoipa::PartialSchema>::schema())];
    <ErrorBody as utoipa::ToSchema>::schemas(&mut error_schemas);
    for (name, schema) in error_schemas {
        doc["components"]["schemas"][name] = serde_json::to_value(schema).expect("a schema");
    }
    let error_schema = json!({ "$ref": "#/components/schemas/ErrorBody" });
    doc["components"]["securitySchemes"] = json!({ "bearer": { "type": "http", "scheme": "bearer" } });
    doc["components"]["responses"] = json!({
        "Error": {
            "description": "what went wrong",
            "headers": { "x-request-id": { "schema": { "type": "string" } } },
            "content": { "application/json": { "schema": error_schema } }
        }
    });
    // Apps and environments are the server's: bodies and paths name them.
    let mut bodies = Vec::new();
    for (path, item) in doc["paths"].as_object_mut().expect("paths") {
        let env_names = if path.starts_with("/api/v1/promotions") { &promotable } else { &envs };
        for op in item.as_object_mut().expect("a path item").values_mut() {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                match (p["in"].as_str(), p["name"].as_str()) {
                    (Some("path"), Some("app")) => p["schema"]["enum"] = json!(apps),
                    (Some("path"), Some("env")) => p["schema"]["enum"] = json!(env_names),
                    _ => {}
                }
            }
            let body = op.pointer("/requestBody/content/application~1json/schema/$ref").and_then(Value::as_str);
            if let Some(name) = body.and_then(|r| r.strip_prefix("#/components/schemas/")) {
                bodies.push((name.to_string(), env_names.clone()));
            }
        }
    }
    let names: Vec<String> = bodies.iter().map(|(n, _)| n.clone()).collect();
    for (name, env_names) in bodies {
        let props = &mut doc["components"]["schemas"][&name]["properties"];
        if props.get("app").is_some() {
            props["app"]["enum"] = json!(apps);
        }
        if props.get("env").is_some() {
            props["env"]["enum"] = json!(env_names);
        }
    }
    // The text rule is the edge's, for what a request carries: parameters
    // and the schemas request bodies use.
    for item in doc["paths"].as_object_mut().expect("paths").values_mut() {
        for op in item.as_object_mut().expect("a path item").values_mut() {
            if let Some(params) = op.get_mut("parameters") {
                constrain(params, "");
            }
        }
    }
    let mut requested: Vec<String> = Vec::new();
    let mut todo: Vec<String> = names.clone();
    while let Some(name) = todo.pop() {
        if !requested.contains(&name) {
            refs(&doc["components"]["schemas"][&name], &mut todo);
            requested.push(name);
        }
    }
    for name in &requested {
        constrain(&mut doc["components"]["schemas"][name], "");
    }
    // Breaking glass must say why: `force: true` needs a reason that is not
    // blank (JSON Schema 2020-12, as OpenAPI 3.1 uses).
    let start = &mut doc["components"]["schemas"]["StartDeployment"];
    start["if"] = json!({ "properties": { "force": { "const": true } }, "required": ["force"] });
    start["then"] =
        json!({ "required": ["reason"], "properties": { "reason": { "type": "string", "pattern": "\\S" } } });
    doc
}

/// The names of the component schemas `v` refers to.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(name) =
                o.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_string());
            }
            o.values().for_each(|c| refs(c, out));
        }
        Value::Array(items) => items.iter().for_each(|c| refs(c, out)),
        _ => {}
    }
}

/// Characters no text may hold (the ledger's text rule): every control
/// character, as a regex class body; a block may also hold tabs and line
/// breaks.
const LINE_CONTROLS: &str = "\\x00-\\x1f\\x7f-\\x9f";
const BLOCK_CONTROLS: &str = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f";

fn is_string(o: &serde_json::Map<String, Value>) -> bool {
    match o.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.contains(&json!("string")),
        _ => false,
    }
}

/// Writes the text rule into every string schema without a rule of its own
/// (a pattern and a length bound by the field's kind; names and reasons
/// that must not be blank say so), and `int64` into integers without a
/// format.
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
    if is_string(o) && !o.contains_key("enum") {
        let (controls, max) = match Kind::of(key) {
            Kind::Line => (LINE_CONTROLS, MAX_LINE),
            Kind::Block => (BLOCK_CONTROLS, MAX_BLOCK),
        };
        let pattern = if nonblank {
            format!("^[^{controls}]*[^\\s{controls}][^{controls}]*$")
        } else {
            format!("^[^{controls}]*$")
        };
        if !o.contains_key("pattern") {
            o.insert("pattern".into(), json!(pattern));
        }
        if !o.contains_key("maxLength") {
            o.insert("maxLength".into(), json!(max));
        }
    }
    if let (Some(Value::Object(props)), required) = (o.get("properties").cloned(), o.get("required").cloned()) {
        let required: Vec<Value> = required.and_then(|r| r.as_array().cloned()).unwrap_or_default();
        let mut props = props;
        for (name, schema) in props.iter_mut() {
            // A required name or reason must say something.
            let blank_refused = matches!(name.as_str(), "name" | "reason") && required.contains(&json!(name));
            constrain(schema, &if blank_refused { format!("!{name}") } else { name.clone() });
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

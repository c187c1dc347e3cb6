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
    json!({
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
            "/api/v1/deployments": { "get": with(op("Deployments, newest first; `next_before` pages on", "read", "200"), json!({
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
            "/api/v1/approvals": { "post": with(op("Approve a release for an environment", "approve", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "env"], "additionalProperties": false,
                "properties": { "app": { "type": "string" }, "release": { "type": "string" }, "env": { "type": "string" }, "comment": { "type": "string" } }
            }))}))},
            "/api/v1/quarantines": { "post": with(op("Quarantine a release", "admin", "201"), json!({ "requestBody": body(json!({
                "type": "object", "required": ["app", "release", "reason"], "additionalProperties": false,
                "properties": { "app": { "type": "string" }, "release": { "type": "string" }, "reason": { "type": "string" } }
            }))}))},
            "/api/v1/audit/verify": { "get": op("Check the audit chain", "admin", "200") },
            "/healthz": { "get": { "summary": "Whether the server and its database answer", "responses": { "200": { "description": "ok" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text" } } } }
        }
    })
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

//! Every route, walked over a real server on a real (SQLite) ledger: the
//! router serves exactly what the OpenAPI document lists, and no route but
//! the few public ones answers without a token of its scope.

use crate::dashboard::{ACTIONS, PAGES, PUBLIC};
use serde_json::Value;
use std::sync::Arc;

const SCOPES: [&str; 6] = ["read", "deploy", "verify", "approve", "agent", "admin"];

const CONFIG: &str = r#"
[apps.app]
ship = "src"

[environments.staging]
hosts = ["a"]

[environments.prod]
hosts = ["a"]
code = "staging"

[hosts.a]
transport = "local"
root = "hosts/a"
"#;

struct Running {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    async fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let mut text = CONFIG.to_string();
        for s in SCOPES {
            let sha = crate::token_sha256(&format!("{s}-secret"));
            text.push_str(&format!("\n[[server.tokens]]\nname = \"{s}\"\nsha256 = \"{sha}\"\nscopes = [\"{s}\"]\n"));
        }
        let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
        let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
        let state = crate::State::new(ledger, Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(crate::serve(listener, state, async move { drop(stopped.await) }));
        let client = crate::webhooks::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Running { base, client, _dir: dir, _stop: stop }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String, Option<String>) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(format!("{t}-secret"));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        let streamed =
            res.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        // A stream never ends by itself; its status is enough.
        let body = if streamed { String::new() } else { res.text().await.unwrap() };
        (status, body, location)
    }

    async fn document(&self) -> Value {
        let (status, body, _) = self.call("GET", "/api/v1/openapi.json", Some("read")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// A concrete path for a documented one (`{id}` → `1`, `{app}` → `app`, …).
fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{app}", "app").replace("{env}", "prod")
}

/// Every documented operation: path, method, and the scopes its
/// `x-haul-scope` names (none for `/healthz`).
fn operations(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scopes = op["x-haul-scope"].as_str().map_or(vec![], |s| s.split(" or ").map(str::to_string).collect());
            out.push((path.clone(), method.to_uppercase(), scopes));
        }
    }
    out
}

#[tokio::test]
async fn every_route_needs_a_token_of_its_scope() {
    let server = Running::start().await;
    let doc = server.document().await;
    let ops = operations(&doc);
    assert!(ops.len() >= 27, "{ops:?}");
    for (path, method, scopes) in &ops {
        let at = concrete(path);
        if path == "/healthz" {
            assert!(scopes.is_empty());
            assert_eq!(server.call(method, &at, None).await.0, 200);
            continue;
        }
        assert!(!scopes.is_empty(), "{method} {path} names no scope");
        let (status, body, _) = server.call(method, &at, None).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        let (status, body, _) = server.call(method, &at, Some("nobody")).await;
        assert_eq!(status, 401, "{method} {path} with an unknown token: {body}");
        for small in SCOPES.iter().filter(|s| **s != "admin" && !scopes.iter().any(|w| w == *s)) {
            let (status, body, _) = server.call(method, &at, Some(small)).await;
            assert_eq!(status, 403, "{method} {path} with a `{small}` token: {body}");
            assert!(body.contains("lacks the"), "{body}");
        }
        for enough in scopes.iter().map(String::as_str).chain(["admin"]) {
            let (status, body, _) = server.call(method, &at, Some(enough)).await;
            assert!(status != 401 && status != 403, "{method} {path} with a `{enough}` token: {status} {body}");
        }
    }
    // The pages: without a token, or with one that may not read, a
    // redirect to sign in that comes back to the page.
    for (route, at) in PAGES {
        for token in [None, Some("deploy"), Some("verify"), Some("approve"), Some("agent"), Some("nobody")] {
            let (status, _, location) = server.call("GET", at, token).await;
            assert_eq!(status, 303, "{route} with {token:?}");
            let location = location.unwrap();
            assert!(location.starts_with("/login"), "{route}: {location}");
        }
        let (status, body, _) = server.call("GET", at, Some("read")).await;
        assert!(status != 303 && status < 500, "{route} with a `read` token: {status} {body}");
    }
    for (method, path) in PUBLIC {
        let (status, _, _) = server.call(method, path, None).await;
        assert!(status != 401 && status != 404, "{method} {path}: {status}");
    }
    // The dashboard's actions: a page's session first (else sign in),
    // then the action's own scope (else a page saying which it lacks).
    for (path, scope) in ACTIONS {
        for token in [None, Some("deploy"), Some("nobody")] {
            let (status, _, location) = server.call("POST", path, token).await;
            assert_eq!(status, 303, "{path} with {token:?}");
            assert!(location.unwrap().starts_with("/login"), "{path}");
        }
        let (status, body, _) = server.call("POST", path, Some("read")).await;
        assert_eq!(status, 403, "{path} with a `read` token: {body}");
        assert!(body.contains(&format!("lacks the `{scope}` scope")), "{path}: {body}");
        let (status, body, _) = server.call("POST", path, Some("admin")).await;
        assert_eq!(status, 400, "{path} with an `admin` token and no form: {body}");
    }
}

#[tokio::test]
async fn the_router_serves_what_the_document_lists_and_nothing_else() {
    let server = Running::start().await;
    let doc = server.document().await;
    let ops = operations(&doc);
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    for (path, _, _) in &ops {
        let listed: Vec<&str> = ops.iter().filter(|(p, _, _)| p == path).map(|(_, m, _)| m.as_str()).collect();
        for method in methods {
            let (status, body, _) = server.call(method, &concrete(path), Some("admin")).await;
            if listed.contains(&method) {
                assert!(!(status == 404 && body.contains("no such route")), "{method} {path} is listed, not served");
                assert_ne!(status, 405, "{method} {path} is listed, not served");
            } else {
                assert_eq!(status, 405, "{method} {path} is served, not listed: {body}");
            }
        }
    }
    // A path under the API that is not listed is not served.
    for path in ["/api/v1/nothing", "/api/v1/deployments/1/nothing", "/api/v1"] {
        let (status, body, _) = server.call("GET", path, Some("admin")).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("no such route"), "{body}");
    }
}

#[tokio::test]
async fn the_document_refers_only_to_what_it_defines() {
    let server = Running::start().await;
    let doc = server.document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut refs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r.to_string());
                }
                o.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(&doc, &mut refs);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op.get("parameters").is_none_or(Value::is_array), "{method} {path}: {}", op["parameters"]);
        }
    }
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "{r} is not defined");
    }
    // What the types cannot say is said by the pass.
    let start = &doc["components"]["schemas"]["StartDeployment"];
    assert_eq!(start["properties"]["app"]["enum"], serde_json::json!(["app"]));
    assert_eq!(start["properties"]["release"]["pattern"], haul_api::records::RELEASE_ID_PATTERN);
    assert_eq!(start["properties"]["on_behalf_of"]["maxLength"], haul_api::requests::MAX_ON_BEHALF_OF);
    assert_eq!(start["then"]["required"], serde_json::json!(["reason"]));
    let promote = &doc["components"]["schemas"]["Promote"];
    assert_eq!(promote["properties"]["env"]["enum"], serde_json::json!(["prod"]), "only prod is promoted into");
    assert!(start["properties"]["config_digest"]["pattern"].as_str().unwrap().contains("\\x00-\\x1f"));
}

/// The routes an `agent` token reaches: each checks the token's bindings
/// (`Auth::may_speak_for`, tested in `agents::bound`). A new one fails
/// here until it checks them too and is added.
#[tokio::test]
async fn every_route_an_agent_token_reaches_checks_its_bindings() {
    let server = Running::start().await;
    let doc = server.document().await;
    let mut reached: Vec<String> = operations(&doc)
        .into_iter()
        .filter(|(_, _, scopes)| scopes.iter().any(|s| s == "agent"))
        .map(|(path, method, _)| format!("{method} {path}"))
        .collect();
    reached.sort();
    assert_eq!(
        reached,
        ["GET /api/v1/agents", "GET /api/v1/agents/secrets", "GET /api/v1/agents/wake", "POST /api/v1/agents/reports"]
    );
}

/// A dashboard page left open stops hearing the log when its session
/// expires: `/live` ends the stream then (it once checked the session only
/// when the page connected, and streamed on for as long as it stayed).
#[tokio::test]
async fn the_live_stream_ends_when_its_session_expires() {
    let r = Running::start().await;
    let token = crate::Token {
        name: "read".into(),
        sha256: crate::token_sha256("read-secret"),
        scopes: vec!["read".into()],
        secrets: Vec::new(),
        bound: Default::default(),
    };
    let cookie = |expires: i64| {
        format!("{}={}", crate::dashboard::session::COOKIE, crate::dashboard::session::session_value(&token, expires))
    };
    let live = |expires: i64| r.client.get(format!("{}/live", r.base)).header("cookie", cookie(expires)).send();
    let now = jiff::Timestamp::now().as_second();
    // Expired already: sent to sign in, as every page is.
    let res = live(now - 1).await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/login?next=%2Flive"));
    // Valid for two more seconds: streamed, then ended by the server.
    let res = live(now + 2).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let started = std::time::Instant::now();
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), res.text()).await;
    assert!(body.is_ok_and(|b| b.is_ok()), "the stream did not end within 10 s of its session's expiry");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "it ended before the session did");
}

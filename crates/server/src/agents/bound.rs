//! Agent tokens bound by `[[server.tokens]]` `hosts`, `apps` and `envs`,
//! over a real server, a real SQLite ledger and a `file://` store: on
//! every route an `agent` token reaches (reports, the agents list, the
//! wake-up subscription, the secret files), what lies outside the binding is refused with a
//! 403 naming it, and what lies inside is served.

use serde_json::{Value, json};
use std::sync::Arc;

const CONFIG: &str = r#"
[apps.web]
ship = "src"

[apps.api]
ship = "src"

[environments.prod]
mode = "pull"
hosts = ["h1", "h2"]

[environments.edge]
mode = "pull"

[[server.tokens]]
name = "fleet"
sha256 = "SHA_FLEET"
scopes = ["agent"]

[[server.tokens]]
name = "h1-web"
sha256 = "SHA_H1"
scopes = ["agent"]
hosts = ["h1"]
apps = ["web"]
envs = ["prod"]
"#;

struct Running {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let text = CONFIG
        .replace("SHA_FLEET", &crate::token_sha256("fleet-secret"))
        .replace("SHA_H1", &crate::token_sha256("h1-web-secret"));
    let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
    let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let store_url = format!("file://{}", dir.path().join("store").display());
    let store = haul_store::Store::open(&store_url, &haul_store::StoreOptions::default()).unwrap();
    let state = crate::State::new(ledger, Arc::new(config)).with_store(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::serve(listener, state, async move { drop(stopped.await) }));
    Running { base, client: crate::webhooks::http_client().build().unwrap(), _dir: dir, _stop: stop }
}

fn report(host: &str, app: &str, env: &str) -> Value {
    let at = jiff::Timestamp::now().to_string();
    json!({"host": host, "app": app, "env": env, "phase": "idle", "at": at, "agent": "0.1.0"})
}

impl Running {
    async fn post(&self, token: &str, body: &Value) -> (u16, String) {
        let res = self
            .client
            .post(format!("{}/api/v1/agents/reports", self.base))
            .bearer_auth(format!("{token}-secret"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// A GET's status and, unless it is an event stream, its body.
    async fn get(&self, token: &str, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(format!("{token}-secret"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let streamed =
            res.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        (status, if streamed { String::new() } else { res.text().await.unwrap() })
    }
}

/// Asserts a 403 that names what the token may not speak for and the field.
fn refused((status, body): (u16, String), says: &str, field: &str) {
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(says), "{body}");
    assert!(body.contains(&format!("\"field\":\"{field}\"")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_agent_token_reports_only_as_its_host_app_and_env() {
    let s = start().await;
    let (status, body) = s.post("h1-web", &report("h1", "web", "prod")).await;
    assert_eq!(status, 200, "{body}");
    refused(s.post("h1-web", &report("h2", "web", "prod")).await, "may not speak for host `h2`", "host");
    refused(s.post("h1-web", &report("h1", "api", "prod")).await, "may not speak for app `api`", "app");
    refused(s.post("h1-web", &report("h1", "web", "edge")).await, "may not speak for environment `edge`", "env");
    let (status, body) = s.post("h1-web", &report("h2", "web", "prod")).await;
    assert!(body.contains("its `hosts` allow only `h1`"), "{status} {body}");
    // An unbound agent token still speaks for any host.
    let (status, body) = s.post("fleet", &report("h2", "web", "prod")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_agent_token_lists_only_its_own_agents() {
    let s = start().await;
    for h in ["h1", "h2"] {
        assert_eq!(s.post("fleet", &report(h, "web", "prod")).await.0, 200);
    }
    let hosts = |body: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(body).unwrap();
        v["items"].as_array().unwrap().iter().map(|a| a["host"].as_str().unwrap().to_string()).collect()
    };
    let (status, body) = s.get("fleet", "/api/v1/agents?app=web&env=prod").await;
    assert_eq!((status, hosts(&body)), (200, vec!["h1".to_string(), "h2".to_string()]), "{body}");
    let (status, body) = s.get("h1-web", "/api/v1/agents?app=web&env=prod").await;
    assert_eq!((status, hosts(&body)), (200, vec!["h1".to_string()]), "{body}");
    refused(s.get("h1-web", "/api/v1/agents?app=api&env=prod").await, "may not speak for app `api`", "app");
    refused(s.get("h1-web", "/api/v1/agents?app=web&env=edge").await, "environment `edge`", "env");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_agent_token_is_woken_only_for_its_apps_and_env() {
    let s = start().await;
    assert_eq!(s.get("h1-web", "/api/v1/agents/wake?app=web&env=prod").await.0, 200);
    refused(s.get("h1-web", "/api/v1/agents/wake?app=web,api&env=prod").await, "may not speak for app `api`", "app");
    refused(s.get("h1-web", "/api/v1/agents/wake?app=web&env=edge").await, "environment `edge`", "env");
    assert_eq!(s.get("fleet", "/api/v1/agents/wake?app=web,api&env=edge").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_agent_token_asks_for_secret_files_only_of_its_app_and_env() {
    let s = start().await;
    let (status, body) = s.get("h1-web", "/api/v1/agents/secrets?app=web&env=prod").await;
    assert_eq!(status, 200, "{body}");
    refused(s.get("h1-web", "/api/v1/agents/secrets?app=api&env=prod").await, "may not speak for app `api`", "app");
    refused(
        s.get("h1-web", "/api/v1/agents/secrets?app=web&env=edge").await,
        "may not speak for environment `edge`",
        "env",
    );
}

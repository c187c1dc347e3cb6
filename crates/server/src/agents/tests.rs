//! Agents' reports through a real server over a real SQLite ledger and a
//! `file://` store: what is refused (status and message), and the store's
//! reports taken in without a post.

use super::{Said, forget_gone, say};
use serde_json::{Value, json};
use std::sync::Arc;

const CONFIG: &str = r#"
[apps.web]
ship = "src"

[environments.staging]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "hosts/a"

[environments.prod]
mode = "pull"
hosts = ["h1", "h2"]
waves = [{ name = "rest" }]
"#;

struct Running {
    base: String,
    client: reqwest::Client,
    store: haul_store::Store,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut text = CONFIG.to_string();
    for s in ["read", "agent", "deploy"] {
        let sha = crate::token_sha256(&format!("{s}-secret"));
        text.push_str(&format!("\n[[server.tokens]]\nname = \"{s}\"\nsha256 = \"{sha}\"\nscopes = [\"{s}\"]\n"));
    }
    let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
    let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
    let store_url = format!("file://{}", dir.path().join("store").display());
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let store = haul_store::Store::open(&store_url, &haul_store::StoreOptions::default()).unwrap();
    let state = crate::State::new(ledger, Arc::new(config)).with_store(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::serve(listener, state, async move { drop(stopped.await) }));
    let client = crate::webhooks::http_client().build().unwrap();
    Running { base, client, store, _dir: dir, _stop: stop }
}

fn report(host: &str, env: &str, at: &str) -> Value {
    json!({
        "host": host, "app": "web", "env": env, "roles": ["app"], "phase": "download",
        "steps": [{"phase": "download", "name": "download", "ok": true, "started": at, "millis": 3, "output": "a\nb"}],
        "at": at, "agent": "0.1.0"
    })
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

    async fn list(&self, query: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}/api/v1/agents?{query}", self.base))
            .bearer_auth("agent-secret")
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn agents(&self) -> Vec<Value> {
        let (status, body) = self.list("app=web&env=prod").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["items"].as_array().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_recorded_and_refusals_said() {
    let s = start().await;
    let (status, body) = s.post("agent", &report("h1", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"recorded\":true"), "{body}");
    let agents = s.agents().await;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["host"], "h1");
    assert_eq!(agents[0]["silent"], true, "a report from January is silent");
    // The same report again: already recorded.
    let (status, body) = s.post("agent", &report("h1", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!((status, body.contains("\"recorded\":false")), (200, true), "{body}");
}

/// A list of what the config does not hold finds nothing (404): a
/// schema-valid query is never answered 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_an_unknown_or_push_environment_is_not_found() {
    let s = start().await;
    for (query, says) in [
        ("app=&env=prod", "no app ``"),
        ("app=nothing&env=prod", "no app `nothing`"),
        ("app=web&env=nothing", "no environment `nothing`"),
        ("app=web&env=staging", "does not deploy by pull"),
    ] {
        let (status, body) = s.list(query).await;
        assert_eq!(status, 404, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
}

/// A report from an agent whose clock is years ahead once stood above
/// every true report after it (older ones are refused) and froze the
/// host's record: it is refused, naming the field, and later true reports
/// still land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_from_the_future_is_refused_and_does_not_freeze_the_agents_record() {
    let s = start().await;
    let (status, body) = s.post("agent", &report("h1", "prod", "2100-01-01T00:00:00Z")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("is the agent's clock right?") && body.contains("\"field\":\"at\""), "{body}");
    let now = jiff::Timestamp::now();
    let (status, body) = s.post("agent", &report("h1", "prod", &now.to_string())).await;
    assert_eq!(status, 200, "{body}");
    // A little drift is a clock, not an attack.
    let soon = now + jiff::SignedDuration::from_secs(60);
    let (status, body) = s.post("agent", &report("h1", "prod", &soon.to_string())).await;
    assert_eq!(status, 200, "{body}");
    // The store's path refuses it too: never taken in.
    let r: haul_store::reports::AgentReport =
        haul_agent::report::from_api(serde_json::from_value(report("h2", "prod", "2100-01-01T00:00:00Z")).unwrap())
            .unwrap();
    haul_store::reports::write(&s.store, &r, None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(s.agents().await.iter().all(|a| a["host"] != "h2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_report_refused() {
    let s = start().await;
    assert_eq!(s.post("agent", &report("h1", "prod", "2026-01-01T00:00:05Z")).await.0, 200);
    let (status, body) = s.post("agent", &report("h1", "prod", "2026-01-01T00:00:01Z")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("is older than the one recorded"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_or_forged_host_refused() {
    let s = start().await;
    let (status, body) = s.post("agent", &report("h9", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("host `h9` is not one of environment `prod`'s hosts"), "{body}");
    let (status, body) = s.post("agent", &report("../h1", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_environment_refused() {
    let s = start().await;
    let (status, body) = s.post("agent", &report("a", "staging", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("environment `staging` does not deploy by pull"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_without_agent_scope_refused() {
    let s = start().await;
    let (status, body) = s.post("read", &report("h1", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("lacks the `agent` scope"), "{body}");
    let (status, _) = s.post("deploy", &report("h1", "prod", "2026-01-01T00:00:05Z")).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_field_refused() {
    let s = start().await;
    let mut r = report("h1", "prod", "2026-01-01T00:00:05Z");
    r["owner"] = json!("mallory");
    let (status, body) = s.post("agent", &r).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("unknown field `owner`"), "{body}");
}

/// A report written to the store with no post reaches the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_reports_are_taken_in() {
    let s = start().await;
    let r: haul_store::reports::AgentReport =
        haul_agent::report::from_api(serde_json::from_value(report("h2", "prod", "2026-01-01T00:00:07Z")).unwrap())
            .unwrap();
    haul_store::reports::write(&s.store, &r, None).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let agents = s.agents().await;
        if agents.iter().any(|a| a["host"] == "h2") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the store's report was not taken in: {agents:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A step's coloured output (terminal escapes) or a carriage return in an
/// agent's error once made the server refuse its report (422: control
/// characters), so the host never reached the ledger: the agent sends it
/// plain, and it is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_coloured_output_is_posted_plain_and_recorded() {
    let s = start().await;
    let mut r = report("h1", "prod", &jiff::Timestamp::now().to_string());
    r["error"] = json!("migrate failed");
    let mut stored = haul_agent::report::from_api(serde_json::from_value(r).unwrap()).unwrap();
    stored.steps[0].output = "\u{1b}[32mok\u{1b}[0m\r\n\u{1b}[31mfailed\u{1b}[0m".into();
    stored.error = Some("migrate failed\r\u{1b}[2K".into());
    let body = serde_json::to_value(haul_agent::report::to_api(&stored)).unwrap();
    let (status, body) = s.post("agent", &body).await;
    assert_eq!(status, 200, "{body}");
    let agents = s.agents().await;
    assert_eq!(agents[0]["error"], "migrate failed\u{FFFD}\u{FFFD}[2K");
}

#[test]
fn the_intake_forgets_what_a_writer_cycling_bad_names_said() {
    let mut said = Said::default();
    for round in 0..1000 {
        let bad = format!("\0reports/web/prod/h{round}.json");
        say(&mut said, ("web".into(), "prod".into(), bad.clone()), "unread".into(), "forged".into());
        say(&mut said, ("web".into(), "prod".into(), "h1".into()), "409".into(), "refused".into());
        say(&mut said, ("api".into(), "prod".into(), String::new()), "store".into(), "down".into());
        forget_gone(&mut said, "web", "prod", |h| h == bad || h == "h1");
    }
    // This round's refusal and host, and the other pair's store problem.
    assert_eq!(said.len(), 3, "{said:?}");
    forget_gone(&mut said, "web", "prod", |_| false);
    forget_gone(&mut said, "api", "prod", |_| false);
    assert!(said.is_empty(), "{said:?}");
}

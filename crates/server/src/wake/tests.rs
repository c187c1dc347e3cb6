//! The wake-up subscription over a real server, a real (SQLite) ledger and
//! a real `file://` store that blessings are published into.

use haul_api::wake::{MAX_WAKE_APPS, Wake};
use haul_store::{Store, StoreOptions, blessings};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"
[apps.web]
ship = "src"

[apps.api]
ship = "src"

[environments.prod]
mode = "pull"
hosts = ["h1"]

[environments.staging]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "hosts/a"

[[server.tokens]]
name = "reader"
sha256 = "SHA_READ"
scopes = ["read"]

[[server.tokens]]
name = "deployer"
sha256 = "SHA_DEPLOY"
scopes = ["deploy"]
"#;

pub(crate) struct Running {
    pub(crate) base: String,
    pub(crate) state: crate::State,
    store: Store,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    pub(crate) async fn start() -> Running {
        Running::start_with("").await
    }

    /// A server whose config is `CONFIG` and then `more`.
    async fn start_with(more: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{CONFIG}{more}")
            .replace("SHA_READ", &crate::token_sha256("read-secret"))
            .replace("SHA_DEPLOY", &crate::token_sha256("deploy-secret"));
        let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
        let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
        let store = Store::open(dir.path().join("store").to_str().unwrap(), &StoreOptions::default()).unwrap();
        let state = crate::State::new(ledger, Arc::new(config)).with_store(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(crate::serve(listener, state.clone(), async move { drop(stopped.await) }));
        let client = crate::webhooks::http_client().build().unwrap();
        Running { base, state, store, client, stop: Some(stop), served, _dir: dir }
    }

    pub(crate) async fn bless(&self, app: &str, version: u64) {
        let envelope = format!("{{\"payload\":\"v{version}\",\"signatures\":[]}}");
        blessings::publish(&self.store, app, "prod", version, envelope.into()).await.unwrap();
    }

    async fn subscribe(&self, query: &str, token: &str) -> reqwest::Response {
        let url = format!("{}/api/v1/agents/wake?{query}", self.base);
        self.client.get(url).bearer_auth(format!("{token}-secret")).send().await.unwrap()
    }

    pub(crate) async fn stop(mut self) {
        drop(self.stop.take());
        tokio::time::timeout(Duration::from_secs(30), self.served).await.unwrap().unwrap().unwrap();
    }
}

/// Reads a stream's events as they come.
struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    fn new(res: reqwest::Response) -> Events {
        assert_eq!(res.status(), 200);
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Events { res, buf: String::new() }
    }

    /// The next `blessing` event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Wake> {
        tokio::time::timeout(Duration::from_secs(30), self.read()).await.expect("an event or the end within 30 s")
    }

    async fn read(&mut self) -> Option<Wake> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.trim().to_string());
                    }
                }
                if let (Some(e), Some(d)) = (event, data) {
                    assert_eq!(e, haul_api::wake::WAKE_EVENT);
                    return Some(serde_json::from_str(&d).unwrap());
                }
                continue;
            }
            let chunk = self.res.chunk().await.unwrap()?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

fn wake(app: &str, version: u64) -> Wake {
    Wake { app: app.into(), env: "prod".into(), version }
}

#[tokio::test]
async fn a_subscriber_behind_the_newest_blessing_is_woken_at_once() {
    let s = Running::start().await;
    s.bless("web", 1).await;
    s.bless("web", 2).await;
    let mut events = Events::new(s.subscribe("app=web&env=prod&after=1", "read").await);
    assert_eq!(events.next().await, Some(wake("web", 2)));
    s.stop().await;
}

#[tokio::test]
async fn a_blessing_in_the_store_wakes_every_subscriber_once() {
    let s = Running::start().await;
    s.bless("web", 1).await;
    let mut all = Vec::new();
    for _ in 0..20 {
        all.push(Events::new(s.subscribe("app=web,api&env=prod&after=1", "read").await));
    }
    s.bless("web", 2).await;
    for e in &mut all {
        assert_eq!(e.next().await, Some(wake("web", 2)));
    }
    // The next event of each is the next blessing above `after`, not a
    // repeat (`after` holds for every app followed: api's 1 is not above).
    s.bless("api", 1).await;
    s.bless("api", 2).await;
    for e in &mut all {
        assert_eq!(e.next().await, Some(wake("api", 2)));
    }
    s.stop().await;
}

#[tokio::test]
async fn a_subscriber_as_new_as_the_store_hears_only_of_newer_blessings() {
    let s = Running::start().await;
    s.bless("web", 1).await;
    s.bless("web", 2).await;
    let mut events = Events::new(s.subscribe("app=web&env=prod&after=2", "read").await);
    s.bless("web", 3).await;
    assert_eq!(events.next().await, Some(wake("web", 3)));
    s.stop().await;
}

#[tokio::test]
async fn a_blessing_the_server_makes_wakes_without_reading_the_store() {
    let s = Running::start().await;
    let mut events = Events::new(s.subscribe("app=api&env=prod", "read").await);
    super::bump(&s.state, "api", "prod", 7);
    // Lower or unknown bumps move nothing.
    super::bump(&s.state, "api", "prod", 3);
    super::bump(&s.state, "nothing", "prod", 9);
    super::bump(&s.state, "api", "prod", 8);
    let first = events.next().await.unwrap();
    assert!(first == wake("api", 7) || first == wake("api", 8), "{first:?}");
    if first.version == 7 {
        assert_eq!(events.next().await, Some(wake("api", 8)));
    }
    s.stop().await;
}

#[tokio::test]
async fn a_token_without_the_read_scope_is_refused() {
    let s = Running::start().await;
    let res = s.subscribe("app=web&env=prod", "deploy").await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("lacks the"));
    let res = s.client.get(format!("{}/api/v1/agents/wake?app=web&env=prod", s.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = s.subscribe("app=web&env=prod", "nobody").await;
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn a_push_environment_an_unknown_app_or_a_bad_query_is_refused() {
    let s = Running::start().await;
    let many = vec!["web"; 65].join(",");
    // What the config does not hold is not found; a malformed query is
    // refused. A schema-valid query never answers 422 (Schemathesis holds
    // the API to that).
    let cases = [
        ("app=web&env=staging", 404, "deploys by push"),
        ("app=nothing&env=prod", 404, "no app `nothing`"),
        ("app=web,nothing&env=prod", 404, "no app `nothing`"),
        ("app=web&env=nothing", 404, "no environment `nothing`"),
        ("app=,&env=prod", 404, "names no app"),
        ("app=web&env=prod&after=-1", 422, "must not be negative"),
        ("app=web&env=prod&after=x", 400, ""),
        ("app=web&env=prod&since=1", 400, ""),
        ("env=prod", 400, ""),
    ];
    for (query, want, says) in cases {
        let res = s.subscribe(query, "read").await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert!(status == want || (want == 400 && status == 422), "{query}: {status} {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
    // Many names that are one app are one app.
    let res = s.subscribe(&format!("app={many}&env=prod"), "read").await;
    assert_eq!(res.status(), 200);
    drop(res);
    let many: Vec<String> = (0..65).map(|n| format!("a{n}")).collect();
    let res = s.subscribe(&format!("app={}&env=prod", many.join(",")), "read").await;
    assert_eq!(res.status(), 404, "65 apps the config lacks are not found");
    assert!(res.text().await.unwrap().contains("no app `a0`"));
    s.stop().await;
}

#[tokio::test]
async fn the_stream_ends_when_the_server_stops() {
    let s = Running::start().await;
    s.bless("web", 1).await;
    let mut events = Events::new(s.subscribe("app=web&env=prod", "read").await);
    assert_eq!(events.next().await, Some(wake("web", 1)));
    let reading = tokio::spawn(async move { events.next().await });
    s.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(30), reading).await.unwrap().unwrap();
    assert_eq!(end, None);
}

#[tokio::test]
async fn a_garbled_hint_does_not_hide_a_new_blessing() {
    let s = Running::start().await;
    let mut events = Events::new(s.subscribe("app=web&env=prod", "read").await);
    s.bless("web", 1).await;
    assert_eq!(events.next().await, Some(wake("web", 1)));
    // Someone who can write to the store but not sign garbles the hint;
    // the next version is still found from the listing.
    s.store.overwrite("blessings/web/prod/latest", "not json".into()).await.unwrap();
    let envelope = "{\"payload\":\"v2\",\"signatures\":[]}";
    s.store.create("blessings/web/prod/00000000000000000002.json", envelope.into()).await.unwrap();
    assert_eq!(events.next().await, Some(wake("web", 2)));
    s.stop().await;
}

/// One subscription follows at most `MAX_WAKE_APPS` (64) apps: the bound
/// counts distinct names (a name repeated is one app), and a list over it
/// is refused naming both numbers, while a list holding an unknown app is
/// not found whatever its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_follows_at_most_64_apps() {
    assert_eq!(MAX_WAKE_APPS, 64);
    let more: String = (0..=MAX_WAKE_APPS).map(|i| format!("\n[apps.a{i}]\nship = \"src\"\n")).collect();
    let s = Running::start_with(&more).await;
    let names: Vec<String> = (0..=MAX_WAKE_APPS).map(|i| format!("a{i}")).collect();
    let at_most = names[..MAX_WAKE_APPS].join(",");
    assert_eq!(s.subscribe(&format!("app={at_most}&env=prod"), "read").await.status(), 200);
    let repeated = format!("{at_most},a0,a1,a1");
    assert_eq!(s.subscribe(&format!("app={repeated}&env=prod"), "read").await.status(), 200);
    let res = s.subscribe(&format!("app={}&env=prod", names.join(",")), "read").await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("`app` names 65 apps; at most 64"), "{body}");
    let res = s.subscribe(&format!("app={},nothing&env=prod", names.join(",")), "read").await;
    assert_eq!(res.status(), 404);
    s.stop().await;
}

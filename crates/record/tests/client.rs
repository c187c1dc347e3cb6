//! The ledger client over both backends, a SQLite database and a real
//! `haul server` on loopback in front of one: the same calls give the same
//! typed errors, and a run of the engine over local hosts is recorded.

use haul_config::Config;
use haul_deploy::{Engine, Quiet, ReleaseChoice, Whoami};
use haul_ledger::{DeploymentStatus as Status, Ledger, NewDeployment, NewRelease, ReleaseId, Trigger};

fn rid(s: &str) -> ReleaseId {
    ReleaseId::parse(s).unwrap()
}
use haul_record::{BREAK_GLASS, Client, RecordError};
use std::path::Path;
use std::sync::Arc;

const TOKEN: &str = "record-test-secret";

/// A project in a temporary directory: app `app` shipping `src/`, local
/// hosts `a` and `b` in `test`, a SQLite ledger, and an admin token `ci`.
struct Project {
    dir: tempfile::TempDir,
    config: Config,
    /// The database behind either client, for what a test sets up.
    ledger: Ledger,
}

impl Project {
    /// The project's config once more (a `Config` is not `Clone`).
    fn reload(&self) -> Config {
        Config::load(&self.dir.path().join("haul.toml")).unwrap()
    }
}

fn toml(dir: &Path, ledger: &str) -> String {
    format!(
        r#"[apps.app]
ship = "src"

[environments.test]
hosts = ["a", "b"]

[hosts.a]
transport = "local"
root = "{root}/hosts/a"
roles = ["web"]

[hosts.b]
transport = "local"
root = "{root}/hosts/b"
roles = ["web"]

[ledger]
{ledger}

[[server.tokens]]
name = "ci"
sha256 = "{sha}"
scopes = ["admin"]
"#,
        root = dir.display(),
        sha = haul_server::token_sha256(TOKEN),
    )
}

fn load(path: &Path, text: &str) -> Config {
    std::fs::write(path, text).unwrap();
    Config::load(path).unwrap_or_else(|e| panic!("{e}"))
}

async fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/index.html"), "hello\n").unwrap();
    let config = load(&dir.path().join("haul.toml"), &toml(dir.path(), "url = \"sqlite://ledger.db\""));
    let ledger = Ledger::open(&config.ledger_url()).await.unwrap();
    Project { dir, config, ledger }
}

/// The database itself as the client.
async fn database() -> (Project, Client) {
    let p = project().await;
    let client: Client = Arc::new(p.ledger.clone());
    (p, client)
}

/// A `haul server` over the project's database, and a client of it.
async fn server() -> (Project, Client) {
    let p = project().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = haul_server::State::new(p.ledger.clone(), Arc::new(p.reload()));
    tokio::spawn(haul_server::serve(listener, state, std::future::pending()));
    let client: Client = Arc::new(haul_record::Server::new(&url, TOKEN.into()).unwrap());
    (p, client)
}

fn release(id: &str) -> NewRelease {
    NewRelease {
        app: "app".into(),
        id: rid(id),
        digest: format!("digest-{id}"),
        revision: None,
        built_by: "ci".into(),
        created: haul_ledger::now(),
        files: 1,
        bytes: 1,
    }
}

fn deployment(release: &str) -> NewDeployment {
    NewDeployment {
        app: "app".into(),
        env: "test".into(),
        release: rid(release),
        trigger: Trigger::Deploy,
        actor: "alice".into(),
        reason: Some("the test says so".into()),
        config_digest: "c".into(),
        undoes: None,
        force: None,
    }
}

async fn a_quarantined_release_is_refused_with_the_break_glass_advice(p: Project, client: Client) {
    let id = "20260101T000000-quarantined";
    client.register_release(&release(id), "ci").await.unwrap();
    client.quarantine("app", &rid(id), "it corrupts uploads", "ci").await.unwrap();
    let e = client.start_deployment(&p.config, &deployment(id), false, None).await.unwrap_err();
    let RecordError::Refused { message } = &e else { panic!("not a refusal: {e:?}") };
    assert!(message.contains("may not enter test"), "{message}");
    assert!(message.contains("it corrupts uploads"), "{message}");
    assert!(e.to_string().ends_with(BREAK_GLASS), "{e}");
    // Breaking glass goes past it, and says so in the ledger.
    let (started, _) = client.start_deployment(&p.config, &deployment(id), true, None).await.unwrap();
    assert!(p.ledger.deployment(started).await.unwrap().forced.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_release_is_refused_over_a_database() {
    let (p, client) = database().await;
    a_quarantined_release_is_refused_with_the_break_glass_advice(p, client).await;
}

/// The server's refusal is known by its `refusals`, not by its wording.
#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_release_is_refused_through_a_server() {
    let (p, client) = server().await;
    a_quarantined_release_is_refused_with_the_break_glass_advice(p, client).await;
}

async fn an_unregistered_release_is_not_a_refusal_to_break_glass(p: Project, client: Client) {
    let e = client.start_deployment(&p.config, &deployment("20260101T000000-unknown"), false, None).await.unwrap_err();
    assert!(matches!(e, RecordError::Unregistered { .. }), "{e:?}");
    assert!(!e.to_string().contains("break glass"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_release_is_unregistered_over_a_database() {
    let (p, client) = database().await;
    an_unregistered_release_is_not_a_refusal_to_break_glass(p, client).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_release_is_unregistered_through_a_server() {
    let (p, client) = server().await;
    an_unregistered_release_is_not_a_refusal_to_break_glass(p, client).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_the_server_does_not_accept_is_unauthorized() {
    let (p, _) = server().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = haul_server::State::new(p.ledger.clone(), Arc::new(p.reload()));
    tokio::spawn(haul_server::serve(listener, state, std::future::pending()));
    let client = haul_record::Server::new(&url, "not-the-secret".into()).unwrap();
    let e = haul_record::LedgerClient::deployments(&client, None, None, 5).await.unwrap_err();
    assert!(matches!(e, RecordError::Unauthorized { status: 401, .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("ledger server {url}: ")), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_its_token_says_which_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = "url = \"http://127.0.0.1:9\"\ntoken_env = \"HAUL_RECORD_TEST_TOKEN_THAT_IS_NEVER_SET\"";
    let config = load(&dir.path().join("haul.toml"), &toml(dir.path(), ledger));
    let e = haul_record::open(&config).await.err().expect("no client without a token");
    assert!(matches!(e, RecordError::NoToken { .. }), "{e:?}");
    assert!(e.to_string().contains("set HAUL_RECORD_TEST_TOKEN_THAT_IS_NEVER_SET to a token it accepts"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_cannot_be_reached_is_unreachable() {
    let client = haul_record::Server::new("http://127.0.0.1:9", TOKEN.into()).unwrap();
    let e = haul_record::LedgerClient::deployments(&client, None, None, 5).await.unwrap_err();
    assert!(matches!(e, RecordError::Unreachable { .. }), "{e:?}");
}

async fn a_deploy_is_recorded_with_its_release_hosts_and_outcome(p: Project, client: Client) {
    let mut engine = Engine::new(p.reload(), Arc::new(Quiet), 2, Whoami::current());
    let plan = haul_deploy::plan_deploy(&p.config, "app", "test", ReleaseChoice::Build, &[]).unwrap();
    let trigger = haul_record::trigger_of(&plan, false);
    let outcome = haul_record::run(&client, &mut engine, plan, trigger, false).await.unwrap();
    let report = outcome.unwrap_or_else(|e| panic!("the deploy fails: {e}"));
    let release = report.release.clone().expect("a deploy names its release");
    let recorded = client.deployments(Some("app"), Some("test"), 5).await.unwrap();
    let [d] = recorded.as_slice() else { panic!("one deployment: {recorded:?}") };
    assert_eq!((d.status, d.trigger, d.release.as_str()), (Status::Succeeded, Trigger::Deploy, release.as_str()));
    let hosts = p.ledger.host_results(d.id).await.unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(p.dir.path().join("hosts/a/app/current/index.html").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_is_recorded_over_a_database() {
    let (p, client) = database().await;
    a_deploy_is_recorded_with_its_release_hosts_and_outcome(p, client).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_is_recorded_through_a_server() {
    let (p, client) = server().await;
    a_deploy_is_recorded_with_its_release_hosts_and_outcome(p, client).await;
}

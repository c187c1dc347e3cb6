//! A pull agent's secret files: a real `haul server` reads them from their
//! source and answers only a token whose `secrets` names the environment;
//! a real `haul agent --once` writes them under `shared/` before its
//! switch, and without such a token stops before the switch, saying why.

#[path = "served/mod.rs"]
mod served;
#[path = "../../agent/tests/support/mod.rs"]
mod support;

use served::Served;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use support::World;

const VALUE: &[u8] = b"pull-Val9\nline2\n";

fn extra() -> String {
    format!(
        r#"
[apps.web.secrets."config/key"]
from.prod = {{ command = ["printf", "pull-%s\nline2\n", "Val9"] }}
mode = "0640"

[[server.tokens]]
name = "prod-agents"
sha256 = "{}"
scopes = ["agent"]
secrets = ["prod"]
"#,
        haul_server::token_sha256("prod-agent-secret")
    )
}

/// `haul agent --once` for `h1` with `token`: its exit and its log.
fn agent_once(w: &World, url: &str, token: &str) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
    c.args(["agent", "--once"]);
    for (k, v) in w.vars("h1", &[]) {
        c.env(k, v);
    }
    let out = c.env("HAUL_LEDGER", url).env("HAUL_TOKEN", token).env_remove("HAUL_AGENT_FILE").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn files_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_under(&e.path(), out);
        } else if t.is_file() {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_writes_its_secret_files_before_the_switch_with_a_token_scoped_to_its_environment() {
    let mut w = World::new();
    let server = Served::start_with(&w, 0, &extra()).await;
    let url = server.url();
    let r1 = w.release(&[("v", "1")]);
    // The blessing names the file (as `haul bless` writes it from
    // `haul.toml`); the server gives its value.
    w.bless(&r1, |b| b.steps.secrets = vec!["config/key".into()]).await;

    // An agent token whose `secrets` does not name `prod`: nothing switches.
    let (_, log) = agent_once(&w, &url, "report-secret");
    assert_eq!(w.live("h1"), None, "stopped before the switch:\n{log}");
    // The round failed in its migrate phase, and says why in its state
    // (what it reports).
    let state = std::fs::read_to_string(w.root("h1").join(".haul/agent/web.progress")).unwrap();
    assert!(state.contains("may not fetch the secret files of environment `prod`"), "{state}\n{log}");
    let key = w.root("h1").join("web/shared/config/key");
    assert!(!key.exists());

    // With it (once the failed round's backoff of a second is over):
    // written, with its mode, and then live.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (ok, log) = agent_once(&w, &url, "prod-agent-secret");
    let state = std::fs::read_to_string(w.root("h1").join(".haul/agent/web.progress")).unwrap();
    assert!(ok, "{log}\n{state}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()), "{log}");
    assert_eq!(std::fs::read(&key).unwrap(), VALUE);
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o7777, 0o640);

    // The value is nowhere else: not in the agent's log, state or
    // reports, the store, or the release.
    assert!(!log.contains("pull-Val9"), "{log}");
    let mut all = Vec::new();
    files_under(&w.root("h1"), &mut all);
    files_under(&w.store_dir, &mut all);
    for (path, bytes) in &all {
        if *path != key {
            assert!(!bytes.windows(9).any(|b| b == b"pull-Val9"), "the value is in {}", path.display());
        }
    }
    assert!(all.iter().any(|(p, _)| p.to_string_lossy().contains(".haul/agent")), "the agent's state is searched");
    server.stop().await;
}

/// The server's answer must give exactly the files the signed blessing
/// names: one it leaves out stops the round before the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refuses_an_answer_that_lacks_a_file_its_blessing_names() {
    let mut w = World::new();
    let server = Served::start_with(&w, 0, &extra()).await;
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |b| b.steps.secrets = vec!["config/key".into(), "config/other".into()]).await;
    let (_, log) = agent_once(&w, &server.url(), "prod-agent-secret");
    assert_eq!(w.live("h1"), None, "{log}");
    let state = std::fs::read_to_string(w.root("h1").join(".haul/agent/web.progress")).unwrap();
    assert!(state.contains("the blessing names"), "{state}");
    assert!(!w.root("h1").join("web/shared/config/key").exists(), "nothing written from a short answer");
    server.stop().await;
}

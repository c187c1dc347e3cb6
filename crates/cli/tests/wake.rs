//! `haul agent` and `haul server` together: a real server in this process
//! on a real (SQLite) ledger and a `file://` store, and real agent
//! processes. One with a poll interval of an hour goes live on a new
//! blessing long before it; with the server away, one polls on and
//! subscribes again once the server is back; one run with `--once` reports
//! to the server, which records its host result on the blessing's
//! deployment exactly as a push deploy's.

#[path = "served/mod.rs"]
mod served;
#[path = "../../agent/tests/support/mod.rs"]
mod support;

use served::{Agent, Served, deployment};
use std::process::Command;
use std::time::{Duration, Instant};
use support::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_woken_by_the_server_long_before_its_interval() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    let server = Served::start(&w, 0).await;
    let url = server.url();
    let vars = [("HAUL_INTERVAL", "1h"), ("HAUL_LEDGER", url.as_str()), ("HAUL_TOKEN", "agent-secret")];
    let mut agent = Agent::start(&w, &vars);
    agent.until("live on the first release", |_| w.live("h1").as_deref() == Some(r1.id.as_str())).await;
    agent.until("subscribed", |a| a.said("woken by") > 0).await;

    // A round the subscription's first event started is over by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Blessed now, polled only in an hour: live because it was woken.
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, |_| {}).await;
    let t = Instant::now();
    while w.live("h1").as_deref() != Some(r2.id.as_str()) {
        assert!(t.elapsed() < Duration::from_secs(60), "never woken:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(agent.said("wake-ups from"), 0, "{}", agent.log());
    drop(agent);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_polls_while_the_server_is_away_and_subscribes_again_when_it_is_back() {
    let mut w = World::new();
    let server = Served::start(&w, 0).await;
    let (port, url) = (server.port, server.url());
    let vars = [("HAUL_INTERVAL", "1s"), ("HAUL_LEDGER", url.as_str()), ("HAUL_TOKEN", "agent-secret")];
    let mut agent = Agent::start(&w, &vars);
    agent.until("subscribed", |a| a.said("woken by") == 1).await;

    // The server goes away: the agent says so and polls on.
    server.stop().await;
    agent.until("told the subscription ended", |a| a.said("wake-ups from") == 1).await;
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    let t = Instant::now();
    while w.live("h1").as_deref() != Some(r1.id.as_str()) {
        assert!(t.elapsed() < Duration::from_secs(60), "never live by polling:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Failing again and again is said once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(agent.said("wake-ups from"), 1, "{}", agent.log());

    // Back on the same address: subscribed again.
    let server = Served::start(&w, port).await;
    agent.until("subscribed again", |a| a.said("woken by") == 2).await;
    drop(agent);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_token_the_server_refuses_polls_on_and_says_why() {
    let mut w = World::new();
    let server = Served::start(&w, 0).await;
    let url = server.url();
    let vars = [("HAUL_INTERVAL", "1s"), ("HAUL_LEDGER", url.as_str()), ("HAUL_TOKEN", "wrong-secret")];
    let mut agent = Agent::start(&w, &vars);
    agent.until("told the token is refused", |a| a.said("refused (HTTP 401)") == 1).await;
    // The server's message, not its JSON envelope.
    assert!(!agent.log().contains("{\"error\""), "{}", agent.log());
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    let t = Instant::now();
    while w.live("h1").as_deref() != Some(r1.id.as_str()) {
        assert!(t.elapsed() < Duration::from_secs(60), "never live by polling:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(agent.said("woken by"), 0, "{}", agent.log());
    drop(agent);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_run_once_reports_to_the_server_which_records_its_host_result_on_the_blessings_deployment() {
    let mut w = World::new();
    let server = Served::start(&w, 0).await;
    let url = server.url();
    let r1 = w.release(&[("v", "1")]);
    let id = deployment(&server.ledger, &r1.id, &r1.digest).await;
    w.bless(&r1, |b| b.deployment = Some(id)).await;
    assert!(server.ledger.host_results(id).await.unwrap().is_empty());
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
    c.args(["agent", "--once"]);
    for (k, v) in w.vars("h1", &[]) {
        c.env(k, v);
    }
    let out =
        c.env("HAUL_LEDGER", &url).env("HAUL_TOKEN", "report-secret").env_remove("HAUL_AGENT_FILE").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()), "{log}");
    // Posted, not taken in from the store later: recorded by the time the
    // agent has ended.
    let hosts = server.ledger.host_results(id).await.unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}\n{log}");
    let h = &hosts[0];
    assert_eq!(
        (h.host.as_str(), h.status, h.phase, h.error.as_deref()),
        ("h1", haul_ledger::HostStatus::Ok, haul_ledger::Phase::Verify, None),
        "{log}"
    );
    // And the agent is listed with what it runs.
    let agents = server.ledger.agents("web", "prod").await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].seen.live.as_deref(), Some(r1.id.as_str()));
    server.stop().await;
}

//! Several agents of one environment: waves, a host joining mid-rollout,
//! migrate once, the store going away.

mod support;

use haul_agent::{Mode, Outcome, run};
use haul_bless::{Selector, StepDoc, Wave};
use haul_store::reports::AgentPhase;
use support::World;

async fn once(w: &World, host: &str, roles: &[&str]) -> Outcome {
    let s = run(w.config(host, roles), Mode::Once, std::future::pending()).await.unwrap();
    s.apps[0].1.clone()
}

fn two_waves(b: &mut haul_bless::Blessing) {
    b.waves = vec![
        Wave {
            name: "canary".into(),
            select: Selector::Roles(vec!["canary".into()]),
            verifications: vec![],
            min_live: 0,
        },
        Wave { name: "rest".into(), select: Selector::Rest, verifications: vec![], min_live: 0 },
    ];
}

#[tokio::test]
async fn wave_two_waits_until_wave_one_is_live() {
    let mut w = World::new();
    let r = w.release(&[("v", "1")]);
    w.bless(&r, two_waves).await;
    // The canary has said it is working on it, not that it is live.
    let c = once(&w, "c1", &["canary"]).await;
    assert!(matches!(c, Outcome::Live { .. }), "{c:?}");
    std::fs::remove_file(w.root("c1").join("web/current")).unwrap();
    let mut rep = w.report("c1").await;
    rep.phase = AgentPhase::Health;
    haul_store::reports::write(&w.store, &rep, None).await.unwrap();
    let out = once(&w, "w1", &["web"]).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("c1")), "{out:?}");
    assert_eq!(w.live("w1"), None);
    assert!(w.root("w1").join("web/releases").join(&r.id).exists(), "staged while waiting");
    assert_eq!(w.report("w1").await.phase, AgentPhase::Waiting);
    // The canary goes live: wave two follows.
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { .. }));
    assert_eq!(once(&w, "w1", &["web"]).await, Outcome::Live { version: 1, release: r.id.clone() });
}

/// A canary wave with `min_live` cannot be emptied: with the canary's
/// report deleted from the store, the rest waits (and says why) instead
/// of taking the empty wave as done; once the canary reports live again,
/// it follows.
#[tokio::test]
async fn a_canary_wave_with_min_live_holds_the_rest_when_its_report_is_deleted() {
    let mut w = World::new();
    let r = w.release(&[("v", "1")]);
    w.bless(&r, |b| {
        two_waves(b);
        b.waves[0].min_live = 1;
    })
    .await;
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { .. }));
    w.store.delete(&haul_store::keys::report("web", "prod", "c1")).await.unwrap();
    let out = once(&w, "w1", &["web"]).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("min_live")), "{out:?}");
    assert_eq!(w.live("w1"), None);
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { .. }));
    assert_eq!(once(&w, "w1", &["web"]).await, Outcome::Live { version: 1, release: r.id.clone() });
}

#[tokio::test]
async fn a_failing_first_wave_host_blocks_wave_two() {
    let mut w = World::new();
    let r = w.release(&[("v", "1")]);
    w.bless(&r, |b| {
        two_waves(b);
        b.steps.health = vec![haul_bless::HealthDoc {
            name: "up".into(),
            command: Some("[ \"$HAUL_HOST\" != c2 ]".into()),
            http: None,
            status: 200,
            timeout_ms: 5000,
            retries: 0,
            interval_ms: 10,
        }];
    })
    .await;
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { .. }));
    let c2 = once(&w, "c2", &["canary"]).await;
    assert!(matches!(&c2, Outcome::Failed(e) if e.contains("health")), "{c2:?}");
    let out = once(&w, "w1", &["web"]).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("failed") && e.contains("c2")), "{out:?}");
    assert_eq!(w.live("w1"), None);
}

#[tokio::test]
async fn a_host_joining_mid_rollout_catches_up() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, two_waves).await;
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { .. }));
    assert!(matches!(once(&w, "w1", &["web"]).await, Outcome::Live { .. }));
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, two_waves).await;
    assert!(matches!(once(&w, "c1", &["canary"]).await, Outcome::Live { version: 2, .. }));
    // A new host appears: it has nothing, and goes straight to the newest.
    assert_eq!(once(&w, "w9", &["web"]).await, Outcome::Live { version: 2, release: r2.id.clone() });
    assert_eq!(w.live("w9").as_deref(), Some(r2.id.as_str()));
}

#[tokio::test]
async fn migrate_once_runs_on_exactly_one_of_three_agents() {
    let mut w = World::new();
    let log = w.path().join("migrations");
    let r = w.release(&[("v", "1")]);
    let cmd = format!("echo \"$HAUL_HOST\" >> {}", log.display());
    w.bless(&r, |b| {
        b.steps.migrate_once = vec![StepDoc { run: cmd.clone(), name: Some("migrate".into()), roles: vec![] }];
        b.steps.migrate_role = Some("db".into());
    })
    .await;
    // Hosts without the role wait for it.
    let out = once(&w, "a", &["web"]).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("migrate")), "{out:?}");
    let (x, y, z) = tokio::join!(
        run(w.config("b", &["db"]), Mode::Once, std::future::pending()),
        run(w.config("c", &["db"]), Mode::Once, std::future::pending()),
        run(w.config("a", &["web"]), Mode::Once, std::future::pending()),
    );
    let _ = (x.unwrap(), y.unwrap(), z.unwrap());
    for h in ["a", "b", "c"] {
        let o = once(&w, h, if h == "a" { &["web"] } else { &["db"] }).await;
        assert!(matches!(o, Outcome::Live { .. }), "{h}: {o:?}");
    }
    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ran.lines().count(), 1, "{ran}");
}

#[tokio::test]
async fn a_store_that_goes_away_is_reported_retried_and_recovered_from() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    assert!(matches!(once(&w, "h1", &[]).await, Outcome::Live { .. }));
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, |_| {}).await;
    let away = w.path().join("store-away");
    std::fs::rename(&w.store_dir, &away).unwrap();
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(out, Outcome::Refused(_) | Outcome::Failed(_)), "{out:?}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()));
    std::fs::remove_dir_all(&w.store_dir).unwrap();
    std::fs::rename(&away, &w.store_dir).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 2, release: r2.id.clone() });
}

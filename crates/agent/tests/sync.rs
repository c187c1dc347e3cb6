//! The agent against a real `file://` store, real `sh` and local roots.

mod support;

use haul_agent::{Mode, Outcome, run};
use haul_store::reports::AgentPhase;
use std::os::unix::fs::MetadataExt;
use support::World;

async fn once(w: &World, host: &str, roles: &[&str]) -> Outcome {
    let s = run(w.config(host, roles), Mode::Once, std::future::pending()).await.unwrap();
    s.apps[0].1.clone()
}

#[tokio::test]
async fn a_blessed_release_goes_live_and_is_reported() {
    let mut w = World::new();
    let r = w.release(&[("index.html", "v1"), ("post-sync.sh", "touch \"$HAUL_RELEASE_DIR/synced\"\n")]);
    let b = w.bless(&r, |_| {}).await;
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r.id.clone() });
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));
    let dir = w.root("h1").join("web/current");
    assert_eq!(std::fs::read_to_string(dir.join("index.html")).unwrap(), "v1");
    assert!(dir.join("synced").exists(), "post-sync ran in the release");
    let rep = w.report("h1").await;
    assert_eq!(rep.phase, AgentPhase::Live);
    assert_eq!(rep.blessing, Some(b.version));
    assert_eq!(rep.live.as_deref(), Some(r.id.as_str()));
    assert!(rep.steps.iter().all(|s| s.ok), "{:?}", rep.steps);
    // Nothing to do the second time.
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r.id.clone() });
}

#[tokio::test]
async fn a_second_blessing_reuses_the_unchanged_files() {
    let mut w = World::new();
    let r1 = w.release(&[("same.txt", "same"), ("changed.txt", "one")]);
    w.bless(&r1, |_| {}).await;
    once(&w, "h1", &[]).await;
    let r2 = w.release(&[("same.txt", "same"), ("changed.txt", "two")]);
    w.bless(&r2, |_| {}).await;
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 2, release: r2.id.clone() });
    let rel = |id: &str, f: &str| std::fs::metadata(w.root("h1").join("web/releases").join(id).join(f)).unwrap();
    assert_eq!(rel(&r1.id, "same.txt").ino(), rel(&r2.id, "same.txt").ino());
    assert_ne!(rel(&r1.id, "changed.txt").ino(), rel(&r2.id, "changed.txt").ino());
}

#[tokio::test]
async fn an_agent_off_during_two_blessings_catches_up_to_the_newest() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    once(&w, "h1", &[]).await;
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, |_| {}).await;
    let r3 = w.release(&[("v", "3")]);
    w.bless(&r3, |_| {}).await;
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 3, release: r3.id.clone() });
    assert!(!w.root("h1").join("web/releases").join(&r2.id).exists(), "the skipped blessing was never staged");
}

#[tokio::test]
async fn a_tampered_archive_is_refused_and_the_live_release_untouched() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    once(&w, "h1", &[]).await;
    let r2 = w.release(&[("v", "2")]);
    let b2 = w.bless(&r2, |_| {}).await;
    let obj = w.store_dir.join(format!("releases/web/{}/{}.tar.zst", r2.id, b2.archive.blake3));
    let mut bytes = std::fs::read(&obj).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&obj, bytes).unwrap();
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(out, Outcome::Refused(_)), "{out:?}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()));
    assert_eq!(w.report("h1").await.phase, AgentPhase::Refused);
}

#[tokio::test]
async fn a_forged_blessing_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    let mut b = w.bless(&r1, |_| {}).await;
    once(&w, "h1", &[]).await;
    let r2 = w.release(&[("v", "2")]);
    let other = haul_bless::SecretKey::generate("mallory");
    haul_store::spool::spool(&w.store, &w.cache, "web", &r2.id.parse().unwrap(), "m").await.unwrap();
    b.version = 2;
    b.release = r2.id.parse().unwrap();
    w.publish(&b, &other).await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("trusted")), "{out:?}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()));
    let rep = w.report("h1").await;
    assert_eq!(rep.phase, AgentPhase::Refused);
}

#[tokio::test]
async fn a_replayed_older_blessing_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    let b1 = w.bless(&r1, |_| {}).await;
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, |_| {}).await;
    once(&w, "h1", &[]).await;
    // Version 3's object holds version 1's signed document, replayed.
    let env = haul_bless::Envelope::sign(&b1, &[&w.key]);
    haul_store::blessings::publish(&w.store, "web", "prod", 3, env.to_bytes().into()).await.unwrap();
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("older")), "{out:?}");
    assert_eq!(w.live("h1").as_deref(), Some(r2.id.as_str()));
}

#[tokio::test]
async fn an_older_blessing_copied_under_a_newer_version_does_not_roll_back_a_fresh_host() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    let b1 = w.bless(&r1, |_| {}).await;
    let r2 = w.release(&[("v", "2")]);
    w.bless(&r2, |_| {}).await;
    // A store writer without the key (and without the right to delete)
    // adds version 3: version 1's signed document, copied. A host that
    // remembers nothing (new, or its state reset) must not take it.
    let env = haul_bless::Envelope::sign(&b1, &[&w.key]);
    haul_store::blessings::publish(&w.store, "web", "prod", 3, env.to_bytes().into()).await.unwrap();
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("signed as version 1")), "{out:?}");
    assert_eq!(w.live("h1"), None);
}

#[tokio::test]
async fn an_abandoned_download_of_an_earlier_blessing_does_not_stay_on_disk() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    // What an interrupted download of a release blessed before left.
    let dir = w.root("h1").join("web/.haul/agent");
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("20200101T000000.000Z-000000000000.tar.zst");
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r1.id.clone() });
    assert!(!stale.exists());
}

#[tokio::test]
async fn a_garbled_latest_hint_does_not_stop_the_agent() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    std::fs::write(w.store_dir.join("blessings/web/prod/latest"), "not a hint").unwrap();
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r1.id.clone() });
}

#[tokio::test]
async fn an_expired_blessing_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |b| {
        b.issued = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
        b.expires = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    })
    .await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("expired")), "{out:?}");
    assert_eq!(w.live("h1"), None);
}

#[tokio::test]
async fn a_blessing_for_another_environment_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |b| b.env = "staging".into()).await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("staging")), "{out:?}");
    assert_eq!(w.live("h1"), None);
}

#[tokio::test]
async fn a_blessing_whose_archive_digest_does_not_match_the_store_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |b| b.archive.size += 1).await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("archive")), "{out:?}");
    assert_eq!(w.live("h1"), None);
}

#[tokio::test]
async fn a_pre_jump_veto_is_retried_with_backoff() {
    let mut w = World::new();
    let veto = w.path().join("veto");
    let count = w.path().join("count");
    std::fs::write(&veto, "").unwrap();
    let script = format!("echo x >> {}\n[ ! -e {} ]\n", count.display(), veto.display());
    let r1 = w.release(&[("pre-jump.sh", &script)]);
    w.bless(&r1, |_| {}).await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Failed(e) if e.contains("pre-jump")), "{out:?}");
    assert_eq!(w.live("h1"), None);
    assert_eq!(w.report("h1").await.phase, AgentPhase::Failed);
    // Within the backoff nothing is tried again, and the app is still failed.
    let again = once(&w, "h1", &[]).await;
    assert!(matches!(&again, Outcome::Failed(e) if e.contains("retrying")), "{again:?}");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    std::fs::remove_file(&veto).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r1.id.clone() });
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
}

#[tokio::test]
async fn a_persons_lock_makes_the_agent_wait() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    let app = haul_host::HostApp::new(
        haul_transport::Transport::Local(haul_transport::Local::new("h1")),
        w.root("h1").join("web").to_str().unwrap(),
    );
    // A holder on another machine: alive as far as anyone here can tell.
    let info = haul_host::LockInfo {
        token: "person".into(),
        user: "bob".into(),
        holder: haul_host::Holder { machine: "laptop".into(), pid: 1, boot: None, pidns: None, start: None },
        since: jiff::Timestamp::now().to_string(),
        command: "deploy web prod".into(),
    };
    assert!(matches!(app.lock(&info).await.unwrap(), haul_host::LockOutcome::Acquired));
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("bob")), "{out:?}");
    assert_eq!(w.live("h1"), None);
    app.unlock("person").await.unwrap();
    assert_eq!(once(&w, "h1", &[]).await, Outcome::Live { version: 1, release: r1.id.clone() });
}

#[tokio::test]
async fn an_archive_larger_than_max_release_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("big", &"x".repeat(100_000))]);
    let b = w.bless(&r1, |_| {}).await;
    let mut vars = w.vars("h1", &[]);
    vars.insert("HAUL_MAX_RELEASE".into(), (b.archive.size - 1).to_string());
    let config = haul_agent::AgentConfig::from_env(|k| vars.get(k).cloned()).unwrap();
    let s = run(config, Mode::Once, std::future::pending()).await.unwrap();
    assert!(matches!(&s.apps[0].1, Outcome::Refused(e) if e.contains("HAUL_MAX_RELEASE")), "{:?}", s.apps);
    assert!(!s.ok());
    assert_eq!(w.live("h1"), None);
    assert!(!w.root("h1").join("web/.haul/agent").join(format!("{}.tar.zst", r1.id)).exists());
}

#[tokio::test]
async fn a_blessing_whose_path_leaves_the_root_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |b| b.steps.path = "../escaped".into()).await;
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("path")), "{out:?}");
    assert!(!w.root("h1").join("../escaped").exists());
}

#[tokio::test]
async fn a_store_emptied_after_a_blessing_was_accepted_is_refused() {
    let mut w = World::new();
    let r1 = w.release(&[("v", "1")]);
    w.bless(&r1, |_| {}).await;
    once(&w, "h1", &[]).await;
    std::fs::remove_dir_all(w.store_dir.join("blessings")).unwrap();
    let out = once(&w, "h1", &[]).await;
    assert!(matches!(&out, Outcome::Refused(e) if e.contains("no blessing")), "{out:?}");
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()));
}

/// The reports a round writes while it works, as the store shows them to a
/// follower polling every 10 ms: a phase that starts a second or more after
/// the last report is there while it runs; the quick phases after it are
/// not written at all, only their steps in the outcome.
#[tokio::test]
async fn a_slow_phase_is_reported_while_it_runs_and_quick_ones_only_in_the_outcome() {
    let mut w = World::new();
    let r = w.release(&[("index.html", "v1"), ("post-sync.sh", "sleep 1.3\n"), ("post-jump.sh", "sleep 0.6\n")]);
    w.bless(&r, |_| {}).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let agent = async {
        let s = run(w.config("h1", &[]), Mode::Once, std::future::pending()).await.unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        s
    };
    let follow = async {
        let mut seen: Vec<AgentPhase> = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(all) =
                haul_store::reports::read_all(&w.store, "web", "prod", &haul_store::reports::Reporters::Anyone).await
                && let Some(rep) = all.into_iter().find(|r| r.host == "h1")
                && seen.last() != Some(&rep.phase)
            {
                seen.push(rep.phase);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        seen
    };
    let (s, mut seen) = tokio::join!(agent, follow);
    assert_eq!(s.apps[0].1, Outcome::Live { version: 1, release: r.id.clone() });
    seen.push(w.report("h1").await.phase);
    seen.dedup();
    // Download first (nothing was reported before it); post-sync started
    // within a second of it; migrate started 1.3 s later and is seen while
    // post-jump's 0.6 s run; pre-jump, switch and post-jump are not written.
    assert_eq!(seen, [AgentPhase::Download, AgentPhase::Migrate, AgentPhase::Live], "{seen:?}");
    let steps: Vec<AgentPhase> = w.report("h1").await.steps.iter().map(|s| s.phase).collect();
    for p in [AgentPhase::PostSync, AgentPhase::PreJump, AgentPhase::Switch, AgentPhase::PostJump] {
        assert!(steps.contains(&p), "{p:?} is among the outcome's steps: {steps:?}");
    }
}

//! Report keys: with them, whoever may write the store may not speak for
//! a host. A forged report or `migrate.done` opens no wave and lets no
//! host switch; what agents seal with a listed key does.

mod support;

use haul_agent::{AgentConfig, Mode, Outcome, run};
use haul_bless::{Blessing, SecretKey, Selector, StepDoc, Wave};
use haul_store::reports::{self, AgentPhase, AgentReport, Reporters};
use std::path::PathBuf;
use support::World;

/// A report key pair written beside the world's files: the key and the
/// path of its secret half.
fn report_key(w: &World, name: &str) -> (SecretKey, PathBuf) {
    let k = SecretKey::generate(name);
    let dir = w.path().join("report-keys");
    std::fs::create_dir_all(&dir).unwrap();
    k.write_pair(&dir).unwrap();
    (k, dir.join(format!("{name}.key")))
}

fn config(w: &World, host: &str, roles: &[&str], seal: Option<&PathBuf>) -> AgentConfig {
    let mut vars = w.vars(host, roles);
    if let Some(p) = seal {
        vars.insert("HAUL_REPORT_KEY".into(), p.to_str().unwrap().into());
    }
    AgentConfig::from_env(|k| vars.get(k).cloned()).unwrap()
}

async fn once(w: &World, host: &str, roles: &[&str], seal: Option<&PathBuf>) -> Outcome {
    let s = run(config(w, host, roles, seal), Mode::Once, std::future::pending()).await.unwrap();
    s.apps[0].1.clone()
}

fn two_waves(b: &mut Blessing, key: &SecretKey) {
    b.waves = vec![
        Wave {
            name: "canary".into(),
            select: Selector::Roles(vec!["canary".into()]),
            verifications: vec![],
            min_live: 0,
        },
        Wave { name: "rest".into(), select: Selector::Rest, verifications: vec![], min_live: 0 },
    ];
    b.report_keys = vec![key.public().to_line().trim_end().to_string()];
}

/// What someone who may write the store but holds no report key would
/// say of `host`: that it is live on `release`.
fn forged(host: &str, release: &str) -> AgentReport {
    AgentReport {
        host: host.into(),
        app: "web".into(),
        env: "prod".into(),
        roles: vec!["canary".into()],
        labels: Default::default(),
        wave: Some(0),
        blessing: Some(1),
        release: Some(release.into()),
        live: Some(release.into()),
        phase: AgentPhase::Live,
        error: None,
        steps: vec![],
        at: jiff::Timestamp::now(),
        agent: "forger".into(),
    }
}

#[tokio::test]
async fn a_forged_live_report_does_not_open_the_next_wave() {
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let r = w.release(&[("v", "1")]);
    w.bless(&r, |b| two_waves(b, &key)).await;

    // Unsealed: not taken, and the host of wave two waits (it does not fail).
    reports::write(&w.store, &forged("c1", &r.id), None).await.unwrap();
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("c1") && e.contains("not sealed")), "{out:?}");
    assert_eq!(w.live("w1"), None);

    // Sealed by a key the environment does not list: the same.
    let other = SecretKey::generate("other");
    reports::write(&w.store, &forged("c1", &r.id), Some(&other)).await.unwrap();
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("c1") && e.contains("no report key")), "{out:?}");
    assert_eq!(w.live("w1"), None);

    // The real canary, sealing with the listed key, opens wave two.
    assert!(matches!(once(&w, "c1", &["canary"], Some(&key_file)).await, Outcome::Live { .. }));
    assert_eq!(once(&w, "w1", &["web"], Some(&key_file)).await, Outcome::Live { version: 1, release: r.id.clone() });

    // What the agents wrote is sealed: taken with the listed key only.
    let mine = reports::read_all(&w.store, "web", "prod", &Reporters::of(vec![key.public()])).await.unwrap();
    assert_eq!(mine.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(), ["c1", "w1"]);
    let e = reports::read_all(&w.store, "web", "prod", &Reporters::of(vec![other.public()])).await.unwrap_err();
    assert!(e.to_string().contains("no report key"), "{e}");
}

#[tokio::test]
async fn a_report_sealed_with_a_tampered_body_is_refused() {
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let r = w.release(&[("v", "1")]);
    w.bless(&r, |b| two_waves(b, &key)).await;
    // The canary reports honestly that it is still working on it.
    let mut honest = forged("c1", &r.id);
    honest.phase = AgentPhase::Health;
    reports::write(&w.store, &honest, Some(&key)).await.unwrap();
    // Someone rewrites the sealed payload to say live, keeping the seal.
    let path = haul_store::keys::report("web", "prod", "c1");
    let bytes = w.store.get(&path, reports::MAX_REPORT).await.unwrap().unwrap();
    let mut env = haul_bless::Envelope::from_bytes(&bytes).unwrap();
    let mut live = honest.clone();
    live.phase = AgentPhase::Live;
    use base64::Engine;
    env.payload = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&live).unwrap());
    w.store.overwrite(&path, env.to_bytes().into()).await.unwrap();
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("does not verify")), "{out:?}");
    assert_eq!(w.live("w1"), None);
}

/// A world with a report key, and a migration that logs the host it ran on:
/// the world, the key, its secret file, the log and the command.
fn migrating_world() -> (World, SecretKey, PathBuf, PathBuf, String) {
    let w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let log = w.path().join("migrations");
    let cmd = format!("echo \"$HAUL_HOST\" >> {}", log.display());
    (w, key, key_file, log, cmd)
}

/// Blesses `r` with `cmd` as its `migrate_once`, run by role `db`, and
/// `key` as the environment's report key.
async fn bless_migrating(w: &mut World, r: &haul_release::Release, cmd: &str, key: &SecretKey) {
    w.bless(r, |b| {
        b.steps.migrate_once = vec![StepDoc { run: cmd.into(), name: Some("migrate".into()), roles: vec![] }];
        b.steps.migrate_role = Some("db".into());
        b.report_keys = vec![key.public().to_line().trim_end().to_string()];
    })
    .await;
}

#[tokio::test]
async fn a_forged_migrate_done_lets_no_host_switch() {
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let log = w.path().join("migrations");
    let r = w.release(&[("v", "1")]);
    let cmd = format!("echo \"$HAUL_HOST\" >> {}", log.display());
    bless_migrating(&mut w, &r, &cmd, &key).await;
    // Someone who may write the store says the migration is done.
    let done = haul_store::keys::claim("web", "prod", &r.id, "migrate.done");
    w.store.create(&done, bytes::Bytes::from_static(b"db1")).await.unwrap();
    let out = once(&w, "a", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Failed(e) if e.contains("not believed")), "{out:?}");
    assert_eq!(w.live("a"), None);
    assert!(!log.exists(), "nothing ran the migration");

    // Removed by an operator: the migrating host claims, runs and seals it.
    w.store.delete(&done).await.unwrap();
    assert!(matches!(once(&w, "db1", &["db"], Some(&key_file)).await, Outcome::Live { .. }));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // past the failed host's backoff
    assert!(matches!(once(&w, "a", &["web"], Some(&key_file)).await, Outcome::Live { .. }));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "db1\n");
}

#[tokio::test]
async fn a_sealed_record_copied_to_migrate_done_lets_no_host_switch() {
    let (mut w, key, key_file, log, cmd) = migrating_world();
    // R1 migrates honestly: its migrate.done is sealed by a report key.
    let r1 = w.release(&[("v", "1")]);
    bless_migrating(&mut w, &r1, &cmd, &key).await;
    assert!(matches!(once(&w, "db1", &["db"], Some(&key_file)).await, Outcome::Live { .. }));
    assert!(matches!(once(&w, "a", &["web"], Some(&key_file)).await, Outcome::Live { .. }));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "db1\n");

    let r2 = w.release(&[("v", "2")]);
    bless_migrating(&mut w, &r2, &cmd, &key).await;
    let done2 = haul_store::keys::claim("web", "prod", &r2.id, "migrate.done");
    let done1 = haul_store::keys::claim("web", "prod", &r1.id, "migrate.done");
    let r1_done = w.store.get(&done1, reports::MAX_REPORT).await.unwrap().unwrap();
    // A host's own sealed report, and R1's sealed migrate.done, each copied
    // to R2's migrate.done by someone who may write the store.
    reports::write(&w.store, &forged("db1", &r2.id), Some(&key)).await.unwrap();
    let report =
        w.store.get(&haul_store::keys::report("web", "prod", "db1"), reports::MAX_REPORT).await.unwrap().unwrap();
    for (what, copied) in [("a sealed report", report), ("another release's migrate.done", r1_done)] {
        w.store.overwrite(&done2, copied).await.unwrap();
        let out = once(&w, "a", &["web"], Some(&key_file)).await;
        assert!(matches!(&out, Outcome::Failed(e) if e.contains("not believed")), "{what}: {out:?}");
        assert_eq!(w.live("a"), Some(r1.id.clone()), "{what}: the host stays on R1");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // past the failed host's backoff
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "db1\n", "R2's migration never ran");
}

#[tokio::test]
async fn an_agent_without_the_report_key_is_told_its_reports_are_not_believed() {
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let r = w.release(&[("v", "1")]);
    w.bless(&r, |b| two_waves(b, &key)).await;
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = said.clone();
    let cfg = config(&w, "c1", &["canary"], None);
    haul_agent::run_with(cfg, Mode::Once, std::future::pending(), move |m| sink.lock().unwrap().push(m.into()))
        .await
        .unwrap();
    let said = said.lock().unwrap().join("\n");
    assert!(said.contains("HAUL_REPORT_KEY") && said.contains("not believed"), "{said}");
    // Its unsealed report does not open wave two.
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("c1")), "{out:?}");
}

/// Blesses a release for deployment 7 whose first wave waits for `smoke`,
/// and brings its canary live.
async fn smoke_gated(w: &mut World, key: &SecretKey, key_file: &PathBuf) -> Blessing {
    let r = w.release(&[("v", "1")]);
    let b = w
        .bless(&r, |b| {
            two_waves(b, key);
            b.waves[0].verifications = vec!["smoke".into()];
            b.deployment = Some(7);
        })
        .await;
    assert!(matches!(once(w, "c1", &["canary"], Some(key_file)).await, Outcome::Live { .. }));
    b
}

/// `smoke` passed for deployment 7, as `haul verify` records it.
fn smoke_pass() -> haul_store::verifications::NewResult<'static> {
    haul_store::verifications::NewResult {
        app: "web",
        env: "prod",
        deployment: 7,
        name: "smoke",
        result: haul_store::verifications::Outcome::Pass,
        link: None,
        reporter: "ci",
    }
}

/// `smoke` passed, as stored for blessing `version` of `deployment`.
fn stored_pass(version: u64, deployment: i64) -> haul_store::verifications::StoredVerification {
    haul_store::verifications::StoredVerification {
        app: "web".into(),
        env: "prod".into(),
        version,
        deployment,
        name: "smoke".into(),
        result: haul_store::verifications::Outcome::Pass,
        link: None,
        reporter: "ci".into(),
        at: jiff::Timestamp::now(),
    }
}

#[tokio::test]
async fn a_forged_passed_verification_does_not_open_the_next_wave() {
    use haul_store::verifications::{self, Recorded};
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let b = smoke_gated(&mut w, &key, &key_file).await;
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("smoke")), "{out:?}");

    // Someone who may write the store but holds no report key says it passed.
    let forged = stored_pass(b.version, 7);
    verifications::write(&w.store, &forged, None).await.unwrap();
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("not taken") && e.contains("not sealed")), "{out:?}");
    assert_eq!(w.live("w1"), None);

    // A recorder without a listed report key writes nothing.
    let new = smoke_pass();
    let blessing_of = |bytes: &[u8]| haul_bless::Envelope::from_bytes(bytes).ok()?.unverified_blessing().ok();
    let other = SecretKey::generate("other");
    for seal in [None, Some(&other)] {
        let done = verifications::record(&w.store, &new, seal, blessing_of).await.unwrap();
        assert!(matches!(&done, Recorded::Unsealed(why) if why.contains("HAUL_REPORT_KEY")), "{done:?}");
    }
    // One holding it seals the result, and the next wave goes.
    let done = verifications::record(&w.store, &new, Some(&key), blessing_of).await.unwrap();
    assert_eq!(done, Recorded::Written(b.version));
    assert!(matches!(once(&w, "w1", &["web"], Some(&key_file)).await, Outcome::Live { .. }));
}

#[tokio::test]
async fn a_verification_for_a_blessing_copied_under_a_newer_version_is_not_written_there_nor_taken_for_another_deployment()
 {
    use haul_store::verifications::{self, Recorded};
    let mut w = World::new();
    let (key, key_file) = report_key(&w, "agents");
    let b = smoke_gated(&mut w, &key, &key_file).await;
    // A store writer copies the signed blessing under the next version: a
    // result recorded there would stand for whatever is blessed next.
    let bytes = haul_store::blessings::get(&w.store, "web", "prod", b.version).await.unwrap().unwrap();
    let copy = haul_store::keys::blessing("web", "prod", b.version + 1);
    w.store.overwrite(&copy, bytes).await.unwrap();
    let new = smoke_pass();
    let blessing_of = |bytes: &[u8]| haul_bless::Envelope::from_bytes(bytes).ok()?.unverified_blessing().ok();
    let done = verifications::record(&w.store, &new, Some(&key), blessing_of).await.unwrap();
    assert_eq!(done, Recorded::Written(b.version), "written for the version the document names");
    assert!(
        w.store.list_keys(&haul_store::keys::verifications("web", "prod", b.version + 1)).await.unwrap().is_empty()
    );
    w.store.delete(&copy).await.unwrap();
    // A sealed pass of another deployment, put in this version's place,
    // opens no wave.
    let other = stored_pass(b.version, 8);
    verifications::write(&w.store, &other, Some(&key)).await.unwrap();
    let out = once(&w, "w1", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Waiting(e) if e.contains("not taken") && e.contains("deployment 8")), "{out:?}");
    assert_eq!(w.live("w1"), None);
}

#[tokio::test]
async fn a_forged_migrate_failed_neither_stops_the_migration_nor_stands_for_a_real_failure() {
    let (mut w, key, key_file, log, cmd) = migrating_world();
    let r1 = w.release(&[("v", "1")]);
    bless_migrating(&mut w, &r1, &cmd, &key).await;
    // Someone who may write the store says the migration failed.
    let failed = haul_store::keys::claim("web", "prod", &r1.id, "migrate.failed");
    w.store.create(&failed, bytes::Bytes::from_static(b"it broke")).await.unwrap();
    let out = once(&w, "a", &["web"], Some(&key_file)).await;
    assert!(
        matches!(&out, Outcome::Waiting(e) if e.contains("not claimed yet") && e.contains("not believed")),
        "{out:?}"
    );
    // The migrating host runs it as if the record were not there.
    assert!(matches!(once(&w, "db1", &["db"], Some(&key_file)).await, Outcome::Live { .. }));
    assert!(matches!(once(&w, "a", &["web"], Some(&key_file)).await, Outcome::Live { .. }));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "db1\n");

    // A migration that really fails replaces what was forged there, sealed,
    // and every host is told what failed.
    let r2 = w.release(&[("v", "2")]);
    bless_migrating(&mut w, &r2, "echo no >&2; exit 3", &key).await;
    let failed = haul_store::keys::claim("web", "prod", &r2.id, "migrate.failed");
    w.store.create(&failed, bytes::Bytes::from_static(b"forged")).await.unwrap();
    assert!(matches!(once(&w, "db1", &["db"], Some(&key_file)).await, Outcome::Failed(_)));
    let out = once(&w, "a", &["web"], Some(&key_file)).await;
    assert!(matches!(&out, Outcome::Failed(e) if e.contains("failed: migrate on db1")), "{out:?}");
    assert_eq!(w.live("a"), Some(r1.id.clone()));
}

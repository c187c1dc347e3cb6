//! `haul store ls` and `haul store purge` underneath: the summary of a
//! store and the purge that keeps what it is told to, on `file://` and on a
//! real S3 server.

mod common;

use bytes::Bytes;
use common::{Backend, Fixture};
use haul_release::ReleaseId;
use haul_store::list::{self, StoreSummary};
use haul_store::purge::{self, DEFAULT_GRACE, PurgeOptions, PurgeReport};
use haul_store::reports::{self, AgentPhase, AgentReport, Reporters};
use haul_store::{Store, StoreError, keys, spool};
use std::collections::BTreeSet;

/// A purge keeping `keep`, at `now` plus `later`, with no grace period
/// unless `grace`.
async fn run(
    store: &Store,
    app: &str,
    keep: &BTreeSet<ReleaseId>,
    dry_run: bool,
    later: jiff::SignedDuration,
    grace: jiff::SignedDuration,
) -> Result<PurgeReport, StoreError> {
    let options = PurgeOptions { dry_run, grace, now: jiff::Timestamp::now() + later };
    purge::purge(store, app, async || Ok::<_, StoreError>(keep.clone()), &options).await
}

const NONE: jiff::SignedDuration = jiff::SignedDuration::ZERO;
const UNFINISHED_AGE: jiff::SignedDuration = DEFAULT_GRACE;

backends!(
    purge_never_removes_a_release_spooled_within_the_grace_period,
    purge_keeps_a_release_blessed_while_it_decides,
    purge_keeps_what_it_must,
    purge_removes_unfinished_spools_once_they_are_old,
    purge_leaves_what_is_not_a_release,
    purge_removes_a_losing_spools_objects_beside_a_kept_release,
    list_summarises_releases_blessings_and_agents,
);

async fn purge_keeps_what_it_must(b: Backend) {
    let f = Fixture::new(b);
    let ids: Vec<_> = ["one", "two", "three"].iter().map(|s| f.release("web", &[("a", s.as_bytes())])).collect();
    for id in &ids {
        spool::spool(&f.store, &f.cache, "web", id, "alice").await.unwrap();
    }
    let other = f.release("api", &[("a", b"api")]);
    spool::spool(&f.store, &f.cache, "api", &other, "alice").await.unwrap();
    let keep: BTreeSet<_> = [ids[1].clone()].into();

    let dry = run(&f.store, "web", &keep, true, NONE, NONE).await.unwrap();
    let removed: Vec<&str> = dry.removed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(removed, [ids[0].as_str(), ids[2].as_str()]);
    assert_eq!(dry.kept, [ids[1].to_string()]);
    for r in &dry.removed {
        assert_eq!(r.keys.len(), 3);
        assert!(r.keys.last().unwrap().ends_with("/index.json"), "the index goes last: {:?}", r.keys);
    }
    assert!(dry.bytes > 0);
    // A dry run removes nothing.
    for id in &ids {
        assert!(spool::index(&f.store, "web", id).await.unwrap().is_some());
    }

    let wet = run(&f.store, "web", &keep, false, NONE, NONE).await.unwrap();
    assert_eq!(wet.removed, dry.removed);
    assert_eq!(f.store.list_keys(&keys::release_dir("web", &ids[0])).await.unwrap(), Vec::<String>::new());
    assert_eq!(f.store.list_keys(&keys::release_dir("web", &ids[2])).await.unwrap(), Vec::<String>::new());
    let kept = spool::index(&f.store, "web", &ids[1]).await.unwrap().unwrap();
    spool::download(&f.store, &kept, &f.path("down")).await.unwrap();
    // Another app is not touched.
    assert!(spool::index(&f.store, "api", &other).await.unwrap().is_some());
    // Purging again finds nothing more.
    assert!(run(&f.store, "web", &keep, false, NONE, NONE).await.unwrap().removed.is_empty());
}

async fn purge_removes_unfinished_spools_once_they_are_old(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one")]);
    spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap();
    // An interrupted spool: the objects without the index.
    f.store.delete(&keys::release_index("web", &id)).await.unwrap();
    let now = run(&f.store, "web", &BTreeSet::new(), false, NONE, DEFAULT_GRACE).await.unwrap();
    assert_eq!(now.in_progress, [id.to_string()]);
    assert!(now.unfinished.is_empty() && now.removed.is_empty());
    assert_eq!(f.store.list_keys(&keys::release_dir("web", &id)).await.unwrap().len(), 2);

    let later = UNFINISHED_AGE + jiff::SignedDuration::from_mins(1);
    let old = run(&f.store, "web", &BTreeSet::new(), false, later, DEFAULT_GRACE).await.unwrap();
    assert_eq!(old.unfinished.len(), 1);
    assert_eq!(old.unfinished[0].keys.len(), 2);
    assert_eq!(f.store.list_keys(&keys::release_dir("web", &id)).await.unwrap(), Vec::<String>::new());
}

async fn purge_leaves_what_is_not_a_release(b: Backend) {
    let f = Fixture::new(b);
    for k in ["releases/web/NOTES", "releases/web/not-an-id!/x", "releases/webby/20261202T040000.000Z-0123456789ab/x"] {
        f.store.overwrite(k, Bytes::from_static(b"x")).await.unwrap();
    }
    let later = UNFINISHED_AGE * 2;
    let r = run(&f.store, "web", &BTreeSet::new(), false, later, DEFAULT_GRACE).await.unwrap();
    assert!(r.removed.is_empty() && r.unfinished.is_empty(), "{r:?}");
    assert_eq!(f.store.list_keys("releases/").await.unwrap().len(), 3);
    assert!(run(&f.store, "../web", &BTreeSet::new(), false, NONE, NONE).await.is_err());
}

async fn list_summarises_releases_blessings_and_agents(b: Backend) {
    let f = Fixture::new(b);
    let one = f.release("web", &[("a", b"one")]);
    let two = f.release("web", &[("a", b"two")]);
    for id in [&one, &two] {
        spool::spool(&f.store, &f.cache, "web", id, "alice").await.unwrap();
    }
    for v in 1..=7u64 {
        let envelope = format!("{{\"payload\":\"v{v}\",\"signatures\":[]}}");
        f.store.create(&keys::blessing("web", "prod", v), Bytes::from(envelope)).await.unwrap();
    }
    f.store.overwrite(&keys::blessing_hint("web", "prod"), Bytes::from_static(b"{}")).await.unwrap();
    let report = AgentReport {
        host: "web-1".into(),
        app: "web".into(),
        env: "staging".into(),
        roles: vec![],
        labels: Default::default(),
        wave: None,
        blessing: None,
        release: None,
        live: Some(one.to_string()),
        phase: AgentPhase::Idle,
        error: None,
        steps: vec![],
        at: jiff::Timestamp::now(),
        agent: "0.1.0".into(),
    };
    reports::write(&f.store, &report, None).await.unwrap();
    let other = f.release("api", &[("a", b"api")]);
    spool::spool(&f.store, &f.cache, "api", &other, "bob").await.unwrap();

    let s = list::summary(&f.store, Some("web"), &|_, _, _| Reporters::Anyone).await.unwrap();
    assert_eq!(s.apps.len(), 1);
    let web = &s.apps[0];
    let ids: Vec<&str> = web.releases.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [one.as_str(), two.as_str()]);
    assert_eq!(web.releases[0].index.as_ref().unwrap().by, "alice");
    let envs: Vec<&str> = web.environments.iter().map(|e| e.env.as_str()).collect();
    assert_eq!(envs, ["prod", "staging"]);
    let prod = &web.environments[0];
    assert_eq!(prod.versions, (1..=7).collect::<Vec<_>>());
    let shown: Vec<u64> = prod.envelopes.iter().map(|e| e.version).collect();
    assert_eq!(shown, [7, 6, 5, 4, 3]);
    assert!(prod.envelopes[0].envelope.contains("\"v7\""));
    assert_eq!(web.environments[1].agents, vec![report]);

    let all = list::summary(&f.store, None, &|_, _, _| Reporters::Anyone).await.unwrap();
    assert_eq!(all.apps.iter().map(|a| a.app.as_str()).collect::<Vec<_>>(), ["api", "web"]);
    // Serde-able for --json, both ways.
    let json = serde_json::to_string(&all).unwrap();
    assert_eq!(serde_json::from_str::<StoreSummary>(&json).unwrap(), all);

    // An index that cannot be read is shown with its problem, not skipped.
    f.store.overwrite(&keys::release_index("web", &one), Bytes::from_static(b"garbage")).await.unwrap();
    let s = list::summary(&f.store, Some("web"), &|_, _, _| Reporters::Anyone).await.unwrap();
    assert!(s.apps[0].releases[0].problem.is_some());
    assert!(list::summary(&f.store, Some("a/b"), &|_, _, _| Reporters::Anyone).await.is_err());
}

async fn purge_removes_a_losing_spools_objects_beside_a_kept_release(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one")]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    // What a spool of other bytes under the same id leaves when it loses.
    let loser = keys::archive("web", &id, &"0".repeat(64));
    f.store.overwrite(&loser, Bytes::from_static(b"other bytes")).await.unwrap();
    let keep: BTreeSet<_> = [id.clone()].into();
    let now = run(&f.store, "web", &keep, false, NONE, DEFAULT_GRACE).await.unwrap();
    assert!(now.unfinished.is_empty(), "{now:?}");
    let r = run(&f.store, "web", &keep, false, UNFINISHED_AGE * 2, DEFAULT_GRACE).await.unwrap();
    assert_eq!(r.unfinished.len(), 1);
    assert_eq!(r.unfinished[0].keys, [loser]);
    assert_eq!(r.kept, [id.to_string()]);
    let left = f.store.list_keys(&keys::release_dir("web", &id)).await.unwrap();
    assert_eq!(left.len(), 3, "{left:?}");
    spool::download(&f.store, &index, &f.path("down")).await.unwrap();
}

/// A release spooled a moment ago is about to be blessed: nothing blesses
/// it yet, but purge leaves it until it is older than the grace period.
async fn purge_never_removes_a_release_spooled_within_the_grace_period(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"fresh")]);
    spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap();
    let r = run(&f.store, "web", &BTreeSet::new(), false, NONE, DEFAULT_GRACE).await.unwrap();
    assert!(r.removed.is_empty(), "{r:?}");
    assert_eq!(r.young, [id.to_string()]);
    assert!(spool::index(&f.store, "web", &id).await.unwrap().is_some());
    let later = DEFAULT_GRACE + jiff::SignedDuration::from_mins(1);
    let r = run(&f.store, "web", &BTreeSet::new(), false, later, DEFAULT_GRACE).await.unwrap();
    assert_eq!(r.removed.len(), 1, "{r:?}");
}

/// A bless lands between the purge's decision and its deletes: what to
/// keep is read again (here: from blessings really written to the store
/// by another writer in that window) and the release survives.
async fn purge_keeps_a_release_blessed_while_it_decides(b: Backend) {
    let f = Fixture::new(b);
    let old = f.release("web", &[("a", b"old")]);
    let other = f.release("web", &[("a", b"other")]);
    for id in [&old, &other] {
        spool::spool(&f.store, &f.cache, "web", id, "alice").await.unwrap();
    }
    let blesser = f.reopen();
    let asked = std::sync::atomic::AtomicUsize::new(0);
    // What is blessed, as the CLI reads it: here a blessing names a release
    // by its id as the envelope's text.
    let needed = async || {
        let n = asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut keep = BTreeSet::new();
        for (_, bytes) in haul_store::blessings::history(&f.store, "web", "prod", 5).await? {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            keep.insert(ReleaseId::parse(v["release"].as_str().unwrap()).unwrap());
        }
        if n == 0 {
            // `haul bless --previous` of the old release, by someone else,
            // right after the purge read the blessings.
            let envelope = serde_json::json!({ "release": old.to_string() }).to_string();
            haul_store::blessings::publish(&blesser, "web", "prod", 1, envelope.into()).await?;
        }
        Ok::<_, StoreError>(keep)
    };
    let options = PurgeOptions { dry_run: false, grace: NONE, now: jiff::Timestamp::now() };
    let r = purge::purge(&f.store, "web", needed, &options).await.unwrap();
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(r.blessed_meanwhile, [old.to_string()]);
    assert_eq!(r.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [other.as_str()]);
    let index = spool::index(&f.store, "web", &old).await.unwrap().unwrap();
    spool::download(&f.store, &index, &f.path("down")).await.unwrap();
}

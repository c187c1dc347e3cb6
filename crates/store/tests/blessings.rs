//! Blessing versions in a real store, on `file://` and on a real S3
//! server: one winner per version, a hint that ends on the newest (and on
//! S3, where it is replaced with If-Match, never goes back), a listing that
//! is the truth.

mod common;

use bytes::Bytes;
use common::{Backend, Fixture};
use haul_store::{Created, Fetched, Store, StoreError, blessings, keys};

backends!(
    published_versions_are_read_back_newest_first,
    second_blessing_of_a_version_loses_and_changes_nothing,
    concurrent_blessings_of_one_version_have_exactly_one_winner,
    hint_ends_on_the_newest_when_publishes_race,
    a_late_lower_version_does_not_move_the_hint_back,
    latest_finds_the_newest_with_the_hint_stale_or_missing,
    unreadable_hint_is_replaced_by_the_next_blessing,
    unchanged_hint_costs_one_conditional_read,
    stray_object_among_the_versions_is_an_error_naming_it,
    names_that_would_reach_other_keys_are_refused,
    oversize_or_non_json_envelope_is_refused,
);

/// An envelope-shaped document (the store does not judge envelopes).
fn envelope(tag: &str) -> Bytes {
    Bytes::from(format!("{{\"payload\":\"{tag}\",\"signatures\":[]}}"))
}

fn text(b: &Bytes) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// The envelope the hint holds, as text.
async fn hint(store: &Store) -> Option<String> {
    match blessings::poll(store, "web", "prod", None).await.unwrap() {
        Fetched::Body { bytes, .. } => Some(text(&bytes)),
        Fetched::Missing => None,
        Fetched::Unchanged => panic!("no tag was given"),
    }
}

async fn published_versions_are_read_back_newest_first(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap(), None);
    assert_eq!(blessings::poll(&store, "web", "prod", None).await.unwrap(), Fetched::Missing);
    assert!(blessings::history(&store, "web", "prod", 5).await.unwrap().is_empty());
    for v in 1..=12 {
        let got = blessings::publish(&store, "web", "prod", v, envelope(&format!("v{v}"))).await.unwrap();
        assert_eq!(got, Created::New);
    }
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap(), Some((12, envelope("v12"))));
    assert_eq!(hint(&store).await, Some(text(&envelope("v12"))));
    assert_eq!(blessings::get(&store, "web", "prod", 3).await.unwrap(), Some(envelope("v3")));
    assert_eq!(blessings::get(&store, "web", "prod", 13).await.unwrap(), None);
    let h = blessings::history(&store, "web", "prod", 3).await.unwrap();
    assert_eq!(h, vec![(12, envelope("v12")), (11, envelope("v11")), (10, envelope("v10"))]);
    assert_eq!(blessings::history(&store, "web", "prod", 100).await.unwrap().len(), 12);
    // Other environments and apps are apart.
    assert_eq!(blessings::latest(&store, "web", "prod2").await.unwrap(), None);
    assert_eq!(blessings::latest(&store, "we", "prod").await.unwrap(), None);
}

async fn second_blessing_of_a_version_loses_and_changes_nothing(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    assert_eq!(blessings::publish(&store, "web", "prod", 1, envelope("alice")).await.unwrap(), Created::New);
    assert_eq!(blessings::publish(&store, "web", "prod", 1, envelope("bob")).await.unwrap(), Created::Exists);
    assert_eq!(blessings::get(&store, "web", "prod", 1).await.unwrap(), Some(envelope("alice")));
    assert_eq!(hint(&store).await, Some(text(&envelope("alice"))));
}

async fn concurrent_blessings_of_one_version_have_exactly_one_winner(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    let rounds = if b == Backend::S3 { 12 } else { 40 };
    for round in 1..=rounds {
        let tasks: Vec<_> = (0..6)
            .map(|who| {
                // Each blesser its own client, as two people would be.
                let store = f.reopen();
                tokio::spawn(async move {
                    let body = envelope(&format!("r{round}-w{who}"));
                    (blessings::publish(&store, "web", "prod", round, body.clone()).await.unwrap(), body)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (created, body) = t.await.unwrap();
            if created == Created::New {
                winners.push(body);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        // The stored version is the winner's, and so is the hint.
        assert_eq!(blessings::get(&store, "web", "prod", round).await.unwrap().as_ref(), Some(&winners[0]));
        assert_eq!(hint(&store).await, Some(text(&winners[0])), "round {round}");
    }
}

async fn hint_ends_on_the_newest_when_publishes_race(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    let rounds = if b == Backend::S3 { 5 } else { 15 };
    for round in 0..rounds {
        let base = round * 8;
        let tasks: Vec<_> = (1..=8)
            .map(|i| {
                let store = f.reopen();
                let v = base + i;
                tokio::spawn(
                    async move { blessings::publish(&store, "web", "prod", v, envelope(&format!("v{v}"))).await },
                )
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Created::New);
        }
        assert_eq!(hint(&store).await, Some(text(&envelope(&format!("v{}", base + 8)))), "round {round}");
    }
}

async fn a_late_lower_version_does_not_move_the_hint_back(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    blessings::publish(&store, "web", "prod", 5, envelope("v5")).await.unwrap();
    blessings::publish(&store, "web", "prod", 3, envelope("v3")).await.unwrap();
    assert_eq!(hint(&store).await, Some(text(&envelope("v5"))));
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap().unwrap().0, 5);
}

async fn latest_finds_the_newest_with_the_hint_stale_or_missing(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    let hint_key = keys::blessing_hint("web", "prod");
    blessings::publish(&store, "web", "prod", 1, envelope("v1")).await.unwrap();
    // A blesser killed between its two writes: the version is there, the hint not moved.
    store.create(&keys::blessing("web", "prod", 2), envelope("v2")).await.unwrap();
    assert_eq!(hint(&store).await, Some(text(&envelope("v1"))));
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap(), Some((2, envelope("v2"))));
    store.delete(&hint_key).await.unwrap();
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap(), Some((2, envelope("v2"))));
    // The next blesser, even one that loses, heals the hint.
    assert_eq!(blessings::publish(&store, "web", "prod", 2, envelope("late")).await.unwrap(), Created::Exists);
    assert_eq!(hint(&store).await, Some(text(&envelope("v2"))));
}

async fn unreadable_hint_is_replaced_by_the_next_blessing(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    blessings::publish(&store, "web", "prod", 1, envelope("v1")).await.unwrap();
    // Truncated, claiming a high version.
    store.overwrite(&keys::blessing_hint("web", "prod"), Bytes::from_static(b"{\"version\":99")).await.unwrap();
    let e = blessings::poll(&store, "web", "prod", None).await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt { key, .. } if key.ends_with("latest")), "{e}");
    blessings::publish(&store, "web", "prod", 2, envelope("v2")).await.unwrap();
    assert_eq!(hint(&store).await, Some(text(&envelope("v2"))));
}

async fn unchanged_hint_costs_one_conditional_read(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    blessings::publish(&store, "web", "prod", 1, envelope("v1")).await.unwrap();
    let Fetched::Body { bytes, etag: Some(etag) } = blessings::poll(&store, "web", "prod", None).await.unwrap() else {
        panic!("a body with a tag")
    };
    assert_eq!(bytes, envelope("v1"));
    assert_eq!(blessings::poll(&store, "web", "prod", Some(&etag)).await.unwrap(), Fetched::Unchanged);
    blessings::publish(&store, "web", "prod", 2, envelope("v2-longer")).await.unwrap();
    match blessings::poll(&store, "web", "prod", Some(&etag)).await.unwrap() {
        Fetched::Body { bytes, .. } => assert_eq!(bytes, envelope("v2-longer")),
        other => panic!("{other:?}"),
    }
}

async fn stray_object_among_the_versions_is_an_error_naming_it(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    blessings::publish(&store, "web", "prod", 1, envelope("v1")).await.unwrap();
    for stray in
        ["blessings/web/prod/7.json", "blessings/web/prod/notes.txt", "blessings/web/prod/99999999999999999999.json"]
    {
        store.overwrite(stray, envelope("x")).await.unwrap();
        let e = blessings::latest(&store, "web", "prod").await.unwrap_err();
        assert!(matches!(&e, StoreError::Corrupt { key, .. } if key == stray), "{e}");
        assert!(blessings::history(&store, "web", "prod", 1).await.is_err());
        store.delete(stray).await.unwrap();
    }
    assert_eq!(blessings::latest(&store, "web", "prod").await.unwrap().unwrap().0, 1);
}

async fn names_that_would_reach_other_keys_are_refused(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    for (app, env) in [("../web", "prod"), ("web", "prod/../../x"), ("", "prod"), ("web", ".")] {
        assert!(blessings::publish(&store, app, env, 1, envelope("x")).await.is_err());
        assert!(blessings::latest(&store, app, env).await.is_err());
        assert!(blessings::get(&store, app, env, 1).await.is_err());
        assert!(blessings::poll(&store, app, env, None).await.is_err());
        assert!(blessings::history(&store, app, env, 1).await.is_err());
    }
    assert!(store.list_keys("").await.unwrap().is_empty());
}

async fn oversize_or_non_json_envelope_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let store = f.store.clone();
    let huge = Bytes::from(vec![b' '; blessings::MAX_ENVELOPE as usize + 1]);
    let got = blessings::publish(&store, "web", "prod", 1, huge.clone()).await;
    assert!(matches!(got, Err(StoreError::TooLarge { .. })), "{got:?}");
    let got = blessings::publish(&store, "web", "prod", 1, Bytes::from_static(b"not json")).await;
    assert!(matches!(got, Err(StoreError::Corrupt { .. })), "{got:?}");
    assert!(store.list_keys("").await.unwrap().is_empty());
    // An oversize object planted in the store is not read whole.
    store.overwrite(&keys::blessing("web", "prod", 1), huge).await.unwrap();
    assert!(matches!(blessings::latest(&store, "web", "prod").await, Err(StoreError::TooLarge { .. })));
}

/// The version an envelope made by [`envelope`] stands for (`vN`).
fn version_of(envelope: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(envelope).unwrap();
    v["payload"].as_str().unwrap().trim_start_matches('v').parse().unwrap()
}

/// Where the backend replaces the hint with If-Match, a reader polling
/// while blessers race never sees it go back, not even for a moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_s3_a_poller_never_sees_the_hint_go_back_while_publishes_race() {
    let f = Fixture::new(Backend::S3);
    blessings::publish(&f.store, "web", "prod", 1, envelope("v1")).await.unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (store, done) = (f.reopen(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(h) = hint(&store).await {
                    seen.push(version_of(&h));
                }
            }
            seen
        })
    };
    let tasks: Vec<_> = (2..=25u64)
        .map(|v| {
            let store = f.reopen();
            tokio::spawn(async move { blessings::publish(&store, "web", "prod", v, envelope(&format!("v{v}"))).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), Created::New);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = poller.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "the hint went back: {seen:?}");
    assert_eq!(version_of(&hint(&f.store).await.unwrap()), 25);
}

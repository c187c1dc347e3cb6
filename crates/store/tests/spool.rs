//! Spooling, reading and downloading releases, on `file://` and on a real
//! S3 server: exactly once, refused when different, verified on the way
//! down, resumed after an interruption.

mod common;

use bytes::Bytes;
use common::{Backend, Fixture, noise};
use haul_store::spool::{self, Spooled};
use haul_store::{StoreError, keys};

backends!(
    spool_twice_is_a_noop,
    another_archive_under_the_same_id_is_refused,
    an_index_whose_objects_are_missing_is_not_trusted,
    two_spoolers_at_once_upload_once,
    a_large_archive_uploads_in_parts,
    download_verifies_and_resumes,
    a_wrong_partial_download_is_removed,
    a_truncated_archive_is_refused,
    a_tampered_archive_is_refused,
    a_tampered_record_is_refused,
    an_index_for_another_release_is_refused,
    odd_app_names_are_refused,
);

async fn spool_twice_is_a_noop(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("index.html", b"hello"), ("bin/run", b"#!/bin/sh\n")]);
    let first = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap();
    let Spooled::Uploaded(index) = first else { panic!("first spool: {first:?}") };
    assert_eq!(index.archive.size, common::file_len(&f.archive_path("web", &id)));
    let again = spool::spool(&f.store, &f.cache, "web", &id, "bob").await.unwrap();
    // The index written first stays, by whom and when it was written.
    assert_eq!(again, Spooled::Already(index.clone()));
    assert_eq!(spool::index(&f.store, "web", &id).await.unwrap(), Some(index.clone()));
    let record = spool::record(&f.store, &index).await.unwrap();
    assert_eq!(record.id, id.as_str());
    assert_eq!(record.manifest.entries.len(), 3);
    let keys = f.store.list_keys(&keys::release_dir("web", &id)).await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
}

async fn another_archive_under_the_same_id_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one")]);
    spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap();
    // Same id, other bytes in the archive (re-packed, or tampered with).
    let path = f.archive_path("web", &id);
    let mut body = std::fs::read(&path).unwrap();
    body.extend_from_slice(&[0; 512]);
    std::fs::write(&path, body).unwrap();
    let e = spool::spool(&f.store, &f.cache, "web", &id, "mallory").await.unwrap_err();
    let StoreError::Conflict { key, .. } = &e else { panic!("{e}") };
    assert_eq!(key, &keys::release_index("web", &id));
    // What was spooled first is untouched and still verifies.
    let index = spool::index(&f.store, "web", &id).await.unwrap().unwrap();
    spool::download(&f.store, &index, &f.path("down")).await.unwrap();
}

async fn an_index_whose_objects_are_missing_is_not_trusted(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one")]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    // An interrupted purge, a hand-edited bucket: the index without its objects.
    f.store.delete(&index.archive_key()).await.unwrap();
    f.store.overwrite(&index.record_key(), Bytes::from_static(b"not a record")).await.unwrap();
    assert!(spool::record(&f.store, &index).await.is_err());
    let again = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap();
    assert_eq!(again, Spooled::Already(index.clone()));
    spool::record(&f.store, &index).await.unwrap();
    spool::download(&f.store, &index, &f.path("down")).await.unwrap();
}

async fn two_spoolers_at_once_upload_once(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", &noise("two", 300_000)[..])]);
    let other = f.reopen();
    let (x, y) = tokio::join!(
        spool::spool(&f.store, &f.cache, "web", &id, "alice"),
        spool::spool(&other, &f.cache, "web", &id, "bob"),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let uploaded = [&x, &y].iter().filter(|s| matches!(s, Spooled::Uploaded(_))).count();
    assert!(uploaded <= 1, "{x:?} {y:?}");
    assert_eq!(x.index(), y.index(), "both were told about the one index that won");
}

async fn a_large_archive_uploads_in_parts(b: Backend) {
    let f = Fixture::new(b);
    // Noise does not compress: the archive is over 10 MiB, more than one part.
    let big = noise("big", 11 << 20);
    let id = f.release("web", &[("blob", &big[..]), ("small", b"x")]);
    let archive = std::fs::read(f.archive_path("web", &id)).unwrap();
    assert!(archive.len() > 10 << 20 && archive.len() > spool::PART);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    if b == Backend::S3 {
        // S3 names an object made by a multipart upload `<md5 of parts>-<parts>`.
        let haul_store::Fetched::Body { etag, .. } = f.store.fetch(&index.archive_key(), None, 64 << 20).await.unwrap()
        else {
            panic!("no archive")
        };
        let etag = etag.unwrap();
        assert!(etag.trim_matches('"').ends_with("-2"), "not a two-part upload: {etag}");
    }
    let dest = f.path("down");
    spool::download(&f.store, &index, &dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == archive);
}

async fn download_verifies_and_resumes(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("blob", &noise("resume", 200_000)[..])]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    let archive = std::fs::read(f.archive_path("web", &id)).unwrap();
    // An interrupted download left the first half.
    let dest = f.path("down");
    let half = archive.len() / 2;
    std::fs::write(&dest, &archive[..half]).unwrap();
    // Change the stored archive's first half (same size): a download that
    // fetched it again would fail; one that resumes fetches only the rest.
    let mut stored = archive.clone();
    stored[..half].iter_mut().for_each(|b| *b = !*b);
    f.store.overwrite(&index.archive_key(), Bytes::from(stored)).await.unwrap();
    spool::download(&f.store, &index, &dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == archive);
    // Complete already: checked, nothing fetched.
    spool::download(&f.store, &index, &dest).await.unwrap();
}

async fn a_wrong_partial_download_is_removed(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("blob", &noise("wrong", 100_000)[..])]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    let dest = f.path("down");
    std::fs::write(&dest, b"this is not the start of the archive").unwrap();
    let e = spool::download(&f.store, &index, &dest).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(!dest.exists());
    // The next try starts over and succeeds.
    spool::download(&f.store, &index, &dest).await.unwrap();
    // Longer than the archive: not a prefix either.
    let mut long = std::fs::read(&dest).unwrap();
    long.push(0);
    std::fs::write(&dest, long).unwrap();
    spool::download(&f.store, &index, &dest).await.unwrap();
    assert_eq!(common::file_len(&dest), index.archive.size);
}

async fn a_truncated_archive_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("blob", &noise("trunc", 100_000)[..])]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    let archive = std::fs::read(f.archive_path("web", &id)).unwrap();
    let cut = Bytes::copy_from_slice(&archive[..archive.len() - 1000]);
    f.store.overwrite(&index.archive_key(), cut).await.unwrap();
    let dest = f.path("down");
    let e = spool::download(&f.store, &index, &dest).await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt { key, .. } if *key == index.archive_key()), "{e}");
    assert!(!dest.exists());
    // Longer than the index says: never more than its size is kept.
    let mut long = archive.clone();
    long.extend_from_slice(&[0; 4096]);
    f.store.overwrite(&index.archive_key(), Bytes::from(long)).await.unwrap();
    assert!(spool::download(&f.store, &index, &dest).await.is_err());
    assert!(!dest.exists());
    // Shorter than what an interrupted download already holds.
    std::fs::write(&dest, &archive[..archive.len() / 2]).unwrap();
    let cut = Bytes::copy_from_slice(&archive[..archive.len() / 4]);
    f.store.overwrite(&index.archive_key(), cut).await.unwrap();
    let e = spool::download(&f.store, &index, &dest).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(!dest.exists());
}

async fn a_tampered_archive_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("blob", &noise("tamper", 100_000)[..])]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    let mut archive = std::fs::read(f.archive_path("web", &id)).unwrap();
    let mid = archive.len() / 2;
    archive[mid] ^= 1;
    f.store.overwrite(&index.archive_key(), Bytes::from(archive)).await.unwrap();
    let dest = f.path("down");
    let e = spool::download(&f.store, &index, &dest).await.unwrap_err();
    assert!(e.to_string().contains("blake3"), "{e}");
    assert!(!dest.exists());
}

async fn a_tampered_record_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one"), ("b", b"two")]);
    let index = spool::spool(&f.store, &f.cache, "web", &id, "alice").await.unwrap().index().clone();
    let good = f.store.get(&index.record_key(), 1 << 20).await.unwrap().unwrap();
    let evil = String::from_utf8(good.to_vec()).unwrap().replace("\"a\"", "\"c\"");
    f.store.overwrite(&index.record_key(), Bytes::from(evil)).await.unwrap();
    let e = spool::record(&f.store, &index).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    // A record larger than the index says is not read past its size.
    let mut long = good.to_vec();
    long.extend_from_slice(b"\n");
    f.store.overwrite(&index.record_key(), Bytes::from(long)).await.unwrap();
    assert!(matches!(spool::record(&f.store, &index).await, Err(StoreError::TooLarge { .. })));
}

async fn an_index_for_another_release_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let one = f.release("web", &[("a", b"one")]);
    let two = f.release("web", &[("a", b"two")]);
    spool::spool(&f.store, &f.cache, "web", &one, "alice").await.unwrap();
    // Release one's index copied to where two's belongs: mix and match.
    let body = f.store.get(&keys::release_index("web", &one), 1 << 16).await.unwrap().unwrap();
    f.store.create(&keys::release_index("web", &two), body).await.unwrap();
    let e = spool::index(&f.store, "web", &two).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    // An index naming its objects by something that is not a digest.
    let mut idx = spool::index(&f.store, "web", &one).await.unwrap().unwrap();
    idx.archive.blake3 = "../../blessings/web/prod/latest".into();
    let body = serde_json::to_vec(&idx).unwrap();
    f.store.overwrite(&keys::release_index("web", &one), Bytes::from(body)).await.unwrap();
    let e = spool::index(&f.store, "web", &one).await.unwrap_err();
    assert!(e.to_string().contains("not a blake3"), "{e}");
}

async fn odd_app_names_are_refused(b: Backend) {
    let f = Fixture::new(b);
    let id = f.release("web", &[("a", b"one")]);
    for app in ["../web", "web/x", "", ".web"] {
        assert!(spool::spool(&f.store, &f.cache, app, &id, "alice").await.is_err(), "{app:?}");
        assert!(spool::index(&f.store, app, &id).await.is_err(), "{app:?}");
    }
}

//! The release cache costs what changed: a build reads only files whose
//! stat moved since the last build and writes only contents the cache does
//! not have; stage streams and archives come from the blobs; pruning keeps
//! what kept releases need. Each test tries to make the cache lie.

use haul_release::{Diff, ReleaseCache, ReleaseError, verify_archive, write_stage_stream};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn tree(root: &Path, files: usize) {
    for i in 0..files {
        let p = root.join(format!("d{}/f{i}", i % 7));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("file {i} {}", "x".repeat(i))).unwrap();
    }
    std::os::unix::fs::symlink("d0/f0", root.join("link")).unwrap();
}

fn blobs(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(cache.join(".blobs")) else { return out };
    for sub in rd.flatten() {
        if sub.path().is_dir() {
            out.extend(std::fs::read_dir(sub.path()).unwrap().flatten().map(|e| e.path()));
        }
    }
    out
}

fn setup(racy: Duration) -> (tempfile::TempDir, PathBuf, ReleaseCache) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    tree(&root, 50);
    let cache = ReleaseCache::new(tmp.path().join("cache")).with_racy_window(racy);
    (tmp, root, cache)
}

#[test]
fn a_one_file_change_reads_and_stores_only_that_file() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let first = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_eq!(first.read_files, 50);
    assert_eq!(first.new_blobs, 50);
    assert_eq!(blobs(&tmp.path().join("cache")).len(), 50);
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(root.join("d3/f3"), "changed, and longer than before").unwrap();
    let second = cache.build_in("app", &root, None, "t", None).unwrap();
    assert!(!second.reused);
    assert_eq!((second.read_files, second.new_blobs), (1, 1), "{second:?}");
    assert_eq!(second.new_bytes, "changed, and longer than before".len() as u64);
    assert_eq!(blobs(&tmp.path().join("cache")).len(), 51);
    // What the index trusted is what a full read gives.
    assert_eq!(haul_release::pack(&root, std::io::sink()).unwrap(), second.release.manifest);
    // No archive is written by a build.
    assert!(!cache.archive_path("app", &second.release.id).exists());
}

#[test]
fn files_touched_just_before_a_build_are_read_again_by_the_next() {
    // The default window: every file of the tree was just written, so none
    // is trusted unread, even though nothing changed.
    let (_tmp, root, cache) = setup(Duration::from_secs(3));
    cache.build_in("app", &root, None, "t", None).unwrap();
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert!(again.reused);
    assert_eq!(again.read_files, 50);
}

#[test]
fn a_same_size_change_that_keeps_the_mtime_is_still_seen() {
    // Put back the old modification time, as `cp -p`, `rsync -a` or
    // `touch -r` would: the change time still moves, so the file is read.
    let (_tmp, root, cache) = setup(Duration::ZERO);
    let first = cache.build_in("app", &root, None, "t", None).unwrap();
    let p = root.join("d1/f1");
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let before = std::fs::read(&p).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut after = before.clone();
    after[0] ^= 1;
    std::fs::write(&p, &after).unwrap();
    std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    let second = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_ne!(second.release.digest, first.release.digest);
    assert_eq!(second.read_files, 1);
}

#[test]
fn a_missing_or_damaged_index_costs_a_read_never_a_wrong_hash() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    cache.build_in("app", &root, None, "t", None).unwrap();
    let index = tmp.path().join("cache/app/.index");
    let text = std::fs::read_to_string(&index).unwrap();
    // One line made unreadable: the whole index is dropped.
    std::fs::write(&index, text.replacen("\"blake3\":\"", "\"blake3\":", 1)).unwrap();
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_eq!(again.read_files, 50);
    std::fs::remove_file(&index).unwrap();
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_eq!(again.read_files, 50);
    // Blobs removed by hand: the first stage that needs one names it and
    // drops the index, so the next build reads and stores everything.
    std::thread::sleep(Duration::from_millis(20));
    let built = cache.build_in("app", &root, None, "t", None).unwrap();
    for b in blobs(&tmp.path().join("cache")) {
        std::fs::remove_file(b).unwrap();
    }
    let r = built.release;
    let diff = Diff::between(None, &r.manifest);
    let e = write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap_err();
    assert!(e.to_string().contains("missing from the cache"), "{e}");
    assert!(!index.exists());
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_eq!((again.read_files, again.new_blobs), (50, 50));
    write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap();
}

#[test]
fn the_stage_stream_and_the_archive_come_from_the_blobs() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let a = cache.build_in("app", &root, None, "t", None).unwrap().release;
    std::fs::write(root.join("d2/new"), "a new file").unwrap();
    let b = cache.build_in("app", &root, None, "t", None).unwrap().release;
    // The archive is written on demand, verifies, and is the same bytes
    // when asked for again.
    let path = cache.archive(&b).unwrap();
    verify_archive(&path, &b.manifest).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(std::fs::read(cache.archive(&b).unwrap()).unwrap(), bytes);
    // The stage stream over `a` carries the new file and its directory.
    let diff = Diff::between(Some(&a.manifest), &b.manifest);
    let mut out = Vec::new();
    write_stage_stream(&b, Some(&a), &cache.contents(&b).unwrap(), &diff, &mut out).unwrap();
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(out.as_slice());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "tree/d2/new" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            assert_eq!(s, "a new file");
            let want = std::fs::metadata(root.join("d2/new")).unwrap();
            assert_eq!(e.header().mtime().unwrap() as i64, std::os::unix::fs::MetadataExt::mtime(&want));
        }
        names.push(name);
    }
    assert_eq!(names, ["drop", "record.patch", "record.cksum", "record.sha256", "tree/d2", "tree/d2/new"]);
    let _ = tmp;
}

#[test]
fn a_damaged_blob_is_named_not_shipped() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    let victim = blobs(&tmp.path().join("cache")).into_iter().next().unwrap();
    std::fs::write(&victim, "short").unwrap();
    let diff = Diff::between(None, &r.manifest);
    let e = write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap_err();
    let ReleaseError::Corrupt { path, message } = &e else { panic!("{e}") };
    assert_eq!(path, &victim);
    assert!(message.contains("build the release again"), "{message}");
    std::fs::remove_file(&victim).unwrap();
    let e = cache.archive(&r).unwrap_err().to_string();
    assert!(e.contains("missing from the cache"), "{e}");
}

#[test]
fn pruning_keeps_what_kept_releases_need_and_removes_the_rest() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let cdir = tmp.path().join("cache");
    let mut ids = Vec::new();
    for i in 0..4 {
        std::fs::write(root.join(format!("only-in-{i}")), format!("release {i}")).unwrap();
        if i > 0 {
            std::fs::remove_file(root.join(format!("only-in-{}", i - 1))).unwrap();
        }
        ids.push(cache.build_in("app", &root, None, "t", None).unwrap().release);
    }
    // Another app shares most contents; its releases keep them.
    let other = cache.build_in("other", &root, None, "t", None).unwrap().release;
    assert_eq!(blobs(&cdir).len(), 54);
    // What a killed build left behind.
    let left = [cdir.join(".blobs/.tmp-999999-0"), cdir.join(format!("app/{}.times.tmp-999999", ids[3].id))];
    for p in &left {
        std::fs::write(p, "half").unwrap();
    }
    let keep: HashSet<String> = [ids[0].id.clone()].into();
    let pruned = cache.prune("app", 1, &keep).unwrap();
    assert!(left.iter().all(|p| !p.exists()));
    // Blobs went, so no index may still name them.
    assert!(!cdir.join("app/.index").exists() && !cdir.join("other/.index").exists());
    assert_eq!(pruned.releases, [ids[1].id.clone(), ids[2].id.clone()]);
    assert_eq!(pruned.blobs, 2, "{pruned:?}");
    assert_eq!(pruned.bytes, 2 * "release 1".len() as u64);
    assert_eq!(cache.ids("app").unwrap(), [ids[0].id.clone(), ids[3].id.clone()]);
    // What is kept still stages whole.
    for r in [&ids[0], &ids[3], &other] {
        let diff = Diff::between(None, &r.manifest);
        write_stage_stream(r, None, &cache.contents(r).unwrap(), &diff, std::io::sink()).unwrap();
    }
    let e = cache.get("app", &ids[1].id).unwrap_err();
    assert!(matches!(e, ReleaseError::NotCached { .. }), "{e}");
}

#[test]
fn a_cache_an_earlier_haul_left_is_taken_into_blobs_once() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    // What an earlier haul left: the record and an archive, no blobs, no times.
    cache.archive(&r).unwrap();
    std::fs::remove_dir_all(tmp.path().join("cache/.blobs")).unwrap();
    std::fs::remove_file(tmp.path().join(format!("cache/app/{}.times", r.id))).unwrap();
    let diff = Diff::between(None, &r.manifest);
    write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap();
    assert_eq!(blobs(&tmp.path().join("cache")).len(), 50);
    assert!(tmp.path().join(format!("cache/app/{}.times", r.id)).exists());
    // A legacy archive that does not match its record is refused, not taken in.
    let r2 = {
        std::fs::write(root.join("extra"), "x").unwrap();
        cache.build_in("app", &root, None, "t", None).unwrap().release
    };
    let archive = cache.archive(&r2).unwrap();
    std::fs::remove_file(tmp.path().join(format!("cache/app/{}.times", r2.id))).unwrap();
    std::fs::copy(cache.archive_path("app", &r.id), &archive).unwrap();
    assert!(cache.contents(&r2).is_err());
}

#[test]
fn a_damaged_blob_of_the_right_size_fails_the_stream_and_is_stored_again() {
    // A disk that lost a write, or a hand that changed a blob: same length,
    // other bytes. The stream fails before the last of them leaves, the
    // blob is removed, and the next build stores it again.
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    let victim =
        blobs(&tmp.path().join("cache")).into_iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    let len = std::fs::metadata(&victim).unwrap().len() as usize;
    std::fs::write(&victim, vec![0u8; len]).unwrap();
    let diff = Diff::between(None, &r.manifest);
    let mut out = Vec::new();
    let e = write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, &mut out).unwrap_err().to_string();
    assert!(e.contains("do not match their digest"), "{e}");
    assert!(!victim.exists(), "the damaged blob is removed");
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert!(again.reused);
    assert_eq!(again.new_blobs, 1, "{again:?}");
    write_stage_stream(&r, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap();
}

#[test]
fn an_index_or_record_naming_a_path_instead_of_a_digest_is_refused() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    // The index: a "digest" that is a path would have been joined onto the
    // blob directory; the whole index is dropped instead.
    let index = tmp.path().join("cache/app/.index");
    let text = std::fs::read_to_string(&index).unwrap();
    let first = r.manifest.entries.iter().find_map(|e| match &e.kind {
        haul_release::Kind::File { blake3, .. } => Some(blake3.clone()),
        _ => None,
    });
    std::fs::write(&index, text.replace(&first.unwrap(), "/etc/passwd")).unwrap();
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert_eq!(again.read_files, 50);
    // A record: its contents are not read from outside the blobs.
    let mut bad = r.clone();
    if let haul_release::Kind::File { blake3, .. } =
        &mut bad.manifest.entries.iter_mut().find(|e| matches!(e.kind, haul_release::Kind::File { .. })).unwrap().kind
    {
        *blake3 = "../../../../etc/passwd".into();
    }
    let diff = Diff::between(None, &bad.manifest);
    let e = write_stage_stream(&bad, None, &cache.contents(&r).unwrap(), &diff, std::io::sink()).unwrap_err();
    assert!(e.to_string().contains("not a blake3 digest"), "{e}");
}

#[test]
fn a_release_built_again_from_an_old_tree_is_the_newest_for_pruning() {
    let (_tmp, root, cache) = setup(Duration::ZERO);
    let old = cache.build_in("app", &root, None, "t", None).unwrap().release;
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(root.join("d0/f0"), "other").unwrap();
    let newer = cache.build_in("app", &root, None, "t", None).unwrap().release;
    std::thread::sleep(Duration::from_millis(20));
    // Back to the old tree: the old release, built again.
    std::fs::write(root.join("d0/f0"), "file 0 ").unwrap();
    let again = cache.build_in("app", &root, None, "t", None).unwrap();
    assert!(again.reused);
    assert_eq!(again.release.id, old.id);
    let pruned = cache.prune("app", 1, &HashSet::new()).unwrap();
    assert_eq!(pruned.releases, vec![newer.id]);
    let diff = Diff::between(None, &old.manifest);
    write_stage_stream(&old, None, &cache.contents(&old).unwrap(), &diff, std::io::sink()).unwrap();
}

#[test]
fn pruning_one_app_keeps_what_an_app_behind_a_link_needs() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let cdir = tmp.path().join("cache");
    let web = cache.build_in("web", &root, None, "t", None).unwrap().release;
    // `web` moved to another disk, its directory a link to it.
    let elsewhere = tmp.path().join("bigger-disk/web");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::rename(cdir.join("web"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, cdir.join("web")).unwrap();
    std::fs::create_dir_all(cdir.join("other")).unwrap();
    let pruned = cache.prune("other", 1, &HashSet::new()).unwrap();
    assert_eq!(pruned.blobs, 0, "{pruned:?}");
    let diff = Diff::between(None, &web.manifest);
    write_stage_stream(&web, None, &cache.contents(&web).unwrap(), &diff, std::io::sink()).unwrap();
}

#[test]
fn a_release_whose_times_were_lost_is_mended_by_building_it_again() {
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    std::fs::remove_file(tmp.path().join(format!("cache/app/{}.times", r.id))).unwrap();
    assert!(matches!(cache.contents(&r).unwrap_err(), ReleaseError::NotCached { .. }));
    assert!(cache.build_in("app", &root, None, "t", None).unwrap().reused);
    cache.contents(&r).unwrap();
}

#[test]
fn blobs_and_archives_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    for b in blobs(&tmp.path().join("cache")) {
        assert_eq!(std::fs::metadata(&b).unwrap().permissions().mode() & 0o777, 0o600, "{}", b.display());
    }
    let a = cache.archive(&r).unwrap();
    assert_eq!(std::fs::metadata(a).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn threads_of_one_process_writing_the_same_archive_at_once_each_finish() {
    // Found by two spools at once in one process: they shared a temporary
    // name, and one renamed away the file the other was still writing.
    let (_tmp, root, cache) = setup(Duration::ZERO);
    let r = cache.build_in("app", &root, None, "t", None).unwrap().release;
    let paths: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| cache.archive(&r).unwrap())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for p in paths {
        verify_archive(&p, &r.manifest).unwrap();
    }
}

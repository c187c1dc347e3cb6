//! Two runs staging the same release on one host, one of which lost its
//! lock (cleared by `haul unlock`, or taken over) while it staged: each
//! stages under names of its own, and only the run whose token holds the
//! lock moves a tree into place, marks it complete, or removes what was
//! left at the release's name. The run that lost its lock is refused
//! (exit 9) and never touches the tree the lock's holder is making; the
//! holder sets aside and deletes what any run left. On real trees through
//! the local transport, under each shell a host may have.

mod shells;
mod staged;

use staged::Host;

fn index_inode(h: &Host, id: &str) -> u64 {
    let index = h.app().join("releases").join(id).join("index.html");
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(index).unwrap())
}

/// The regression: a run whose lock was taken over moved its stage into
/// place (and marked it complete) as if it still held the lock.
fn a_stage_whose_lock_is_no_longer_its_own_is_never_moved_into_place(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let holder = h.taken_over();
    for stale in [Host::stage_as, Host::stage_complete_as] {
        let e = stale(&h, &v1, None, &h.token).unwrap_err();
        assert!(e.contains("no longer this run's") && e.contains("(exit 9)"), "{e}");
        assert!(!h.app().join("releases").join(&v1.id).exists(), "moved into place by a run without the lock");
        assert!(!h.complete(&v1));
    }
    // What the stale run staged under its own names is set aside by the
    // holder, which stages the release whole.
    h.stage_as(&v1, None, &holder).unwrap();
    h.complete_as(&v1, &holder).unwrap();
    assert!(h.complete(&v1));
    assert_eq!(h.releases(), [v1.id.clone(), format!("{}.manifest", v1.id)], "leftovers beside the release");
    assert_eq!(std::fs::read_to_string(h.app().join("releases").join(&v1.id).join("index.html")).unwrap(), "v1\n");
}

/// The regression: a run that lost its lock started its stage by removing
/// the incomplete tree at the release's name, the one the lock's holder
/// had moved into place and was running `post_upload` in; and it could
/// mark that tree complete, or discard it.
fn a_run_that_lost_its_lock_never_removes_or_completes_the_holders_tree(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let holder = h.taken_over();
    h.stage_as(&v1, None, &holder).unwrap();
    let ino = index_inode(&h, &v1.id);

    let e = h.stage_as(&v1, None, &h.token).unwrap_err();
    assert!(e.contains("no longer this run's") && e.contains("nothing staged") && e.contains("(exit 9)"), "{e}");
    let e = h.complete_as(&v1, &h.token).unwrap_err();
    assert!(e.contains("not marked complete") && e.contains("(exit 9)"), "{e}");
    assert!(!h.complete(&v1), "marked complete by a run without the lock");
    h.discard_as(&v1, &h.token).unwrap();
    assert_eq!(index_inode(&h, &v1.id), ino, "the holder's tree was removed or re-made");

    h.complete_as(&v1, &holder).unwrap();
    assert!(h.complete(&v1));
    assert_eq!(h.releases(), [v1.id.clone(), format!("{}.manifest", v1.id)]);
}

/// Whatever a stopped or stale run left of a release (every run's stage
/// names, the names older versions staged under, an incomplete tree) is
/// set aside and deleted by the lock's holder before it stages, and by its
/// discard; a complete release is never discarded.
fn what_any_run_left_of_a_release_is_cleared_by_the_lock_holder(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let releases = h.app().join("releases");
    let plant = || {
        for d in [
            v1.id.clone(),
            format!(".stage-{}.by-x", v1.id),
            format!(".incoming-{}.by-x", v1.id),
            format!(".stage-{}", v1.id),
            format!(".incoming-{}", v1.id),
        ] {
            std::fs::create_dir_all(releases.join(&d)).unwrap();
            std::fs::write(releases.join(&d).join("stale"), "x").unwrap();
        }
        std::fs::write(releases.join(format!(".record-{}.by-x", v1.id)), "x").unwrap();
        std::fs::write(releases.join(format!("{}.manifest.tmp", v1.id)), "x").unwrap();
    };
    plant();
    h.discard_as(&v1, &h.token).unwrap();
    assert!(h.releases().is_empty(), "left by the discard: {:?}", h.releases());

    plant();
    h.stage(&v1, None).unwrap();
    assert_eq!(h.releases(), [v1.id.clone(), format!("{}.manifest", v1.id)]);
    assert!(!releases.join(&v1.id).join("stale").exists(), "staged into what was left");

    h.discard_as(&v1, &h.token).unwrap();
    assert!(h.complete(&v1), "a complete release was discarded");
}

/// The regression: the guard under which a stage is moved into place was
/// taken in a subshell but named the script's main process, so a stop of
/// that process let another script take the guard while the subshell
/// still renamed, and the subshell's end then removed the other's guard.
/// The guard must name the process that holds it: here the shell that
/// runs the rename, seen from an `mv` first on PATH.
fn the_guard_a_stage_is_moved_in_under_names_the_process_that_holds_it(shell: &[&str]) {
    let shim = shells::Shim::new(
        "mv",
        "case \"$*\" in \"-T releases/.stage-\"*) { echo \"$PPID\"; cat .haul/lock.guard; } > \"$here/seen\" ;; esac\nexec \"$real\" \"$@\"",
    );
    let wrapped = shim.shell(shell);
    let h = Host::new(&wrapped);
    let v1 = h.build("v1\n");
    h.stage(&v1, None).unwrap();
    assert!(h.complete(&v1));
    let seen = std::fs::read_to_string(shim.dir().join("seen")).unwrap();
    let mut lines = seen.lines();
    let renamer = lines.next().unwrap();
    let identity: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    assert_eq!(identity.len(), 4, "{seen}");
    assert_eq!(identity[2], renamer, "the guard names another process than the one renaming under it: {seen}");
}

/// Names of other releases whose ids begin with this one's and a dot are
/// theirs: the holder's clear-up of this release leaves them.
fn another_releases_stage_names_are_never_cleared(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let releases = h.app().join("releases");
    let theirs = [format!(".stage-{}.1.by-x", v1.id), format!(".incoming-{}.by-x.by-y", v1.id)];
    for d in &theirs {
        std::fs::create_dir_all(releases.join(d)).unwrap();
    }
    std::fs::create_dir_all(releases.join(format!(".stage-{}.by-x", v1.id))).unwrap();
    h.stage(&v1, None).unwrap();
    let mut want = vec![v1.id.clone(), format!("{}.manifest", v1.id)];
    want.extend(theirs.iter().cloned());
    want.sort();
    assert_eq!(h.releases(), want);
}

/// A manifest without its tree (a removal stopped between the two) never
/// makes a release staged anew complete before its steps have run. The
/// regression: one that appeared while the steps ran (an older haul, a
/// person) made the completion refuse, and the discard then kept the tree
/// because a manifest was there, so the host listed as complete a tree
/// whose steps never passed, beside a manifest nobody made. Now the
/// manifest, the tree and the record are set aside, under the guard, and
/// the release is not on the host; the same when the steps failed and the
/// run discards. A directory at the manifest's name (a release an older
/// haul let be named so) is never moved, nor the record moved into it.
fn a_manifest_not_made_by_this_run_never_completes_its_release(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let manifest = h.app().join("releases").join(format!("{}.manifest", v1.id));
    std::fs::create_dir_all(h.app().join("releases")).unwrap();
    std::fs::write(&manifest, "left by a stopped removal\n").unwrap();
    h.stage_as(&v1, None, &h.token).unwrap();
    assert!(!h.complete(&v1), "complete before its steps ran");
    let named = |h: &Host| -> Vec<String> { h.releases().into_iter().filter(|n| !n.starts_with(".gone-")).collect() };

    // While its steps ran; then they passed.
    std::fs::write(&manifest, "").unwrap();
    let e = h.complete_as(&v1, &h.token).unwrap_err();
    assert!(e.contains("got a manifest") && e.contains("(exit 4)"), "{e}");
    h.discard_as(&v1, &h.token).unwrap();
    assert!(named(&h).is_empty(), "the release's names still hold something: {:?}", named(&h));

    // While its steps ran; then they failed, and the run discards.
    h.stage_as(&v1, None, &h.token).unwrap();
    std::fs::write(&manifest, "").unwrap();
    h.discard_as(&v1, &h.token).unwrap();
    assert!(named(&h).is_empty(), "a tree whose steps failed kept beside a manifest: {:?}", named(&h));

    // A directory there.
    h.stage_as(&v1, None, &h.token).unwrap();
    std::fs::create_dir(&manifest).unwrap();
    std::fs::write(manifest.join("index.html"), "a release\n").unwrap();
    let e = h.complete_as(&v1, &h.token).unwrap_err();
    assert!(e.contains("got a manifest") && e.contains("(exit 4)"), "{e}");
    h.discard_as(&v1, &h.token).unwrap();
    assert_eq!(named(&h), [format!("{}.manifest", v1.id)]);
    assert_eq!(std::fs::read_dir(&manifest).unwrap().count(), 1, "the record went into the directory");
    let e = h.stage_as(&v1, None, &h.token).unwrap_err();
    assert!(e.contains("is a directory") && e.contains("(exit 7)"), "{e}");
    assert_eq!(named(&h), [format!("{}.manifest", v1.id)], "staging touched the directory");

    std::fs::remove_dir_all(&manifest).unwrap();
    h.stage_as(&v1, None, &h.token).unwrap();
    h.complete_as(&v1, &h.token).unwrap();
    assert!(h.complete(&v1));
}

/// Staging release ID clears what runs left of it, never a real directory
/// at `ID.manifest` or `ID.manifest.tmp`: under an older haul such a name
/// could be a release, even the live one. Nor does it ever set aside the
/// live release.
fn a_release_named_like_anothers_record_is_never_cleared(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    let releases = h.app().join("releases");
    let tmp_named = releases.join(format!("{}.manifest.tmp", v1.id));
    std::fs::create_dir_all(tmp_named.join("public")).unwrap();
    std::os::unix::fs::symlink(format!("releases/{}.manifest.tmp", v1.id), h.app().join("current")).unwrap();
    h.stage(&v1, None).unwrap();
    assert!(h.complete(&v1));
    assert!(tmp_named.join("public").is_dir(), "the live release named like a half-written record was cleared");

    // The live release is never set aside, even incomplete.
    let v2 = h.build("v2\n");
    std::fs::create_dir_all(releases.join(&v2.id)).unwrap();
    std::fs::remove_file(h.app().join("current")).unwrap();
    std::os::unix::fs::symlink(format!("releases/{}", v2.id), h.app().join("current")).unwrap();
    let e = h.stage_as(&v2, None, &h.token).unwrap_err();
    assert!(e.contains("is the live release") && e.contains("(exit 7)"), "{e}");
    assert!(releases.join(&v2.id).is_dir());
}

/// A manifest that appears while a release is staged (between the clear-up
/// and the move into place) keeps the stage from being moved in beside
/// it: the stage is refused as another's (exit 8), with this run's names
/// set aside, and a discard clears the manifest, which has no tree.
fn a_manifest_that_appears_while_a_release_is_staged_keeps_it_out_of_place(shell: &[&str]) {
    let shim = shells::Shim::new(
        "tar",
        "\"$real\" \"$@\" || exit\nif [ -e \"$here/once\" ]; then rm \"$here/once\"; \
         for d in releases/.incoming-*; do i=${d#releases/.incoming-}; : > \"releases/${i%.by-*}.manifest\"; done; fi",
    );
    let wrapped = shim.shell(shell);
    let h = Host::new(&wrapped);
    let v1 = h.build("v1\n");
    for stage in [Host::stage_as, Host::stage_complete_as] {
        std::fs::write(shim.dir().join("once"), "").unwrap();
        let e = stage(&h, &v1, None, &h.token).unwrap_err();
        assert!(e.contains("got a manifest") && e.contains("(exit 8)"), "{e}");
        assert!(!h.app().join("releases").join(&v1.id).exists(), "moved into place beside a manifest nobody made");
        assert!(!h.complete(&v1));
        h.discard_as(&v1, &h.token).unwrap();
        let left: Vec<String> = h.releases().into_iter().filter(|n| !n.starts_with(".gone-")).collect();
        assert!(left.is_empty(), "left by the discard: {left:?}");
    }
    h.stage_complete(&v1, None).unwrap();
    assert!(h.complete(&v1));
}

under_every_shell!(
    the_guard_a_stage_is_moved_in_under_names_the_process_that_holds_it,
    another_releases_stage_names_are_never_cleared,
    a_manifest_not_made_by_this_run_never_completes_its_release,
    a_manifest_that_appears_while_a_release_is_staged_keeps_it_out_of_place,
    a_release_named_like_anothers_record_is_never_cleared,
    a_stage_whose_lock_is_no_longer_its_own_is_never_moved_into_place,
    a_run_that_lost_its_lock_never_removes_or_completes_the_holders_tree,
    what_any_run_left_of_a_release_is_cleared_by_the_lock_holder,
);

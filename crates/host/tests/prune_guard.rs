//! Pruning and removing decide on the host, in the script that deletes: a
//! prune never removes what another run switched to or staged after this
//! run's inspect, neither removes the live release, and nothing at all is
//! removed once the lock is no longer this run's. Under each shell a host
//! may have.

mod shells;

use haul_host::{Event, EventKind, Holder, HostApp, LockInfo, LockOutcome};
use std::path::Path;

fn id(n: u32) -> String {
    format!("20261123T0000{n:02}.000Z-abcdefabcdef")
}

fn complete(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir.join("releases").join(id(n))).unwrap();
    std::fs::write(dir.join("releases").join(format!("{}.manifest", id(n))), "").unwrap();
}

under_every_shell!(
    a_removed_release_is_deleted_only_after_the_guard_ends,
    prune_keeps_what_another_run_switched_to_or_staged_after_our_lock,
    a_removal_whose_lock_is_no_longer_its_own_removes_nothing,
    a_prune_deletes_what_stopped_stages_left,
    leftovers_are_pruned_on_a_host_with_no_release_to_remove,
    what_a_prune_cannot_delete_is_said,
);

/// Pruning and `haul remove` delete a release's files after the guard has
/// ended (a large release would keep a concurrent `haul unlock` waiting on
/// it), and what a removal stopped before its delete left is deleted by the
/// next one. Seen through an `rm` first on PATH that notes, for each tree it
/// is asked to delete, whether the guard was held, and then deletes it.
fn a_removed_release_is_deleted_only_after_the_guard_ends(shell: &[&str]) {
    let shim = shells::Shim::new(
        "rm",
        "for a; do case $a in *releases/*) if [ -e .haul/lock.guard ]; then g=held; else g=free; fi; \
         echo \"$g ${a##*/}\" >> \"$here/log\";; esac; done\nexec \"$real\" \"$@\"",
    );
    let (log, wrapped) = (shim.dir().join("log"), shim.shell(shell));
    let (_tmp, dir, a, me) = app(&wrapped, 4, "deploy");
    let left = dir.join("releases").join(format!(".gone-{}.1", id(9)));
    std::fs::create_dir_all(left.join("deep")).unwrap();
    let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let release = haul_release::ReleaseId::parse(&id(1)).unwrap();
        a.remove(&[release], ev, "mine").await.unwrap();
        let done = a.prune(&[id(2)], false, 1, "mine", ev).await.unwrap();
        assert_eq!(done.removed, vec![id(2)]);
    });
    let mut releases: Vec<String> = std::fs::read_dir(dir.join("releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().display().to_string())
        .collect();
    releases.sort();
    let want: Vec<String> = [3, 4].iter().flat_map(|n| [id(*n), format!("{}.manifest", id(*n))]).collect();
    assert_eq!(releases, want, "every removed tree is deleted, and the one left before");
    let log = std::fs::read_to_string(&log).unwrap();
    let deletes: Vec<&str> = log.lines().filter(|l| l.contains(".gone-")).collect();
    assert!(deletes.iter().any(|l| l.contains(&id(1))) && deletes.iter().any(|l| l.contains(&id(2))), "{log}");
    assert!(deletes.iter().all(|l| l.starts_with("free ")), "a tree was deleted under the guard: {log}");
}

/// An app with complete releases 1..=`newest`, the newest live, on a
/// local host under `shell`, and the lock this run takes (token `mine`).
fn app(shell: &[&str], newest: u32, command: &str) -> (tempfile::TempDir, std::path::PathBuf, HostApp, LockInfo) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    for n in 1..=newest {
        complete(&dir, n);
    }
    std::os::unix::fs::symlink(format!("releases/{}", id(newest)), dir.join("current")).unwrap();
    let a = HostApp::new(shells::local(shell), dir.display().to_string());
    let me = LockInfo {
        token: "mine".into(),
        user: "t".into(),
        holder: Holder::current(),
        since: "2026-01-01T00:00:00Z".into(),
        command: command.into(),
    };
    (tmp, dir, a, me)
}

fn prune_keeps_what_another_run_switched_to_or_staged_after_our_lock(shell: &[&str]) {
    let (_tmp, dir, a, me) = app(shell, 4, "deploy");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        // What this run inspected: 4 live, 1..3 old. Meanwhile another run
        // (one that wrongly took this run's lock, say) switched back to 2
        // and started staging 5.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::os::unix::fs::symlink(format!("releases/{}", id(2)), dir.join(".haul/current.tmp")).unwrap();
        std::fs::rename(dir.join(".haul/current.tmp"), dir.join("current")).unwrap();
        std::fs::create_dir_all(dir.join("releases").join(id(5))).unwrap();
        let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
        let done = a.prune(&[id(1), id(2), id(3), id(5)], false, 2, "mine", ev).await.unwrap();
        assert_eq!(done.removed, vec![id(1), id(3)]);
        assert_eq!(
            done.kept,
            vec![(id(2), "it is live".to_string()), (id(5), "it changed after this run took the lock".to_string())]
        );
        assert!(dir.join("releases").join(id(2)).exists() && dir.join("releases").join(id(5)).exists());

        // Once the lock is someone else's, nothing is pruned.
        a.unlock("mine").await.unwrap();
        let theirs = LockInfo { token: "theirs".into(), ..me.clone() };
        assert!(matches!(a.lock(&theirs).await.unwrap(), LockOutcome::Acquired));
        let e = a.prune(&[id(4)], false, 1, "mine", ev).await.unwrap_err();
        assert!(e.to_string().contains("the lock is no longer this run's; nothing pruned"), "{e}");
        assert!(dir.join("releases").join(id(4)).exists());
    });
}

/// What runs staging here left under their own names (a run stopped
/// mid-stage, of a release nobody stages again) is deleted by the next
/// prune, after its guard; releases it keeps keep every file.
fn a_prune_deletes_what_stopped_stages_left(shell: &[&str]) {
    let (_tmp, dir, a, me) = app(shell, 3, "deploy");
    let releases = dir.join("releases");
    let left = [".stage-x.by-a", ".incoming-x.by-a", ".record-x.by-a", ".stage-y", "y.manifest.tmp"];
    for l in &left[..2] {
        std::fs::create_dir_all(releases.join(l).join("tree")).unwrap();
    }
    for l in &left[2..] {
        std::fs::write(releases.join(l), "x").unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
        let done = a.prune(&[id(1)], false, 2, "mine", ev).await.unwrap();
        assert_eq!(done.removed, vec![id(1)]);
    });
    let mut names: Vec<String> =
        std::fs::read_dir(&releases).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want = vec![id(2), format!("{}.manifest", id(2)), id(3), format!("{}.manifest", id(3))];
    want.sort();
    assert_eq!(names, want, "left by the prune");
}

/// `haul remove` judges, under the guard, that its run still holds the lock
/// and that the release is not live (another run may have switched to it
/// since the inspect): otherwise it removes nothing.
fn a_removal_whose_lock_is_no_longer_its_own_removes_nothing(shell: &[&str]) {
    let (_tmp, dir, a, me) = app(shell, 3, "remove");
    let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
    let gone = |n: u32| !dir.join("releases").join(id(n)).exists();
    let release = |n: u32| haul_release::ReleaseId::parse(&id(n)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        // Another run switched to 1 since this run's inspect.
        std::os::unix::fs::symlink(format!("releases/{}", id(1)), dir.join(".haul/current.tmp")).unwrap();
        std::fs::rename(dir.join(".haul/current.tmp"), dir.join("current")).unwrap();
        let e = a.remove(&[release(1)], ev, "mine").await.unwrap_err();
        assert!(e.to_string().contains("is live; not removed"), "{e}");
        assert!(!gone(1));
        a.remove(&[release(2)], ev, "mine").await.unwrap();
        assert!(gone(2));

        // Cleared, then taken by another: nothing is removed.
        a.unlock("mine").await.unwrap();
        let e = a.remove(&[release(3)], ev, "mine").await.unwrap_err();
        assert!(e.lock_not_held() && e.to_string().contains("nothing removed"), "{e}");
        let theirs = LockInfo { token: "theirs".into(), ..me.clone() };
        assert!(matches!(a.lock(&theirs).await.unwrap(), LockOutcome::Acquired));
        let e = a.remove(&[release(3)], ev, "mine").await.unwrap_err();
        assert!(e.lock_not_held(), "{e}");
        assert!(!gone(3));
        let left: Vec<_> = std::fs::read_dir(dir.join(".haul")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(!left.iter().any(|n| n.to_string_lossy().starts_with("lock.guard")), "a guard file was left: {left:?}");
    });
}

/// What stopped or stale runs left is deleted on a host that keeps no more
/// than `keep` releases too (it piled up there once): its inspect says so,
/// and the prune visits it for that alone. A directory whose name ends in
/// `.manifest.tmp` (a release an older haul let be named so) is kept.
fn leftovers_are_pruned_on_a_host_with_no_release_to_remove(shell: &[&str]) {
    let (_tmp, dir, a, me) = app(shell, 2, "deploy");
    let releases = dir.join("releases");
    std::fs::create_dir_all(releases.join(".gone-x.1.1").join("tree")).unwrap();
    std::fs::create_dir_all(releases.join(".stage-x.by-a").join("tree")).unwrap();
    std::fs::write(releases.join(format!("{}.manifest.tmp", id(2))), "half").unwrap();
    std::fs::create_dir_all(releases.join("old-release.manifest.tmp")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        let st = a.inspect().await.unwrap();
        assert!(st.leftovers);
        assert!(st.prune_set(&id(2), 2).is_empty());
        // Visited for the leftovers alone: a token that is not the lock's
        // is refused there, so the script ran.
        let e = a.prune(&[], true, 2, "not-mine", ev).await.unwrap_err();
        assert!(e.to_string().contains("nothing pruned"), "{e}");
        a.prune(&[], true, 2, "mine", ev).await.unwrap();
        let st = a.inspect().await.unwrap();
        assert!(!st.leftovers, "still left after the prune");
        // Nothing left, nothing to remove: the host is not visited.
        a.prune(&[], false, 2, "not-mine", ev).await.unwrap();
    });
    let mut names: Vec<String> =
        std::fs::read_dir(&releases).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want = vec![
        id(1),
        format!("{}.manifest", id(1)),
        id(2),
        format!("{}.manifest", id(2)),
        "old-release.manifest.tmp".into(),
    ];
    want.sort();
    assert_eq!(names, want, "left by the prune");
}

/// What a prune cannot delete (files a step made that the deploy user may
/// not remove, say) is said in its result, not kept silently while every
/// deploy visits the host again for it. Seen through an `rm` first on PATH
/// that fails on what was set aside.
fn what_a_prune_cannot_delete_is_said(shell: &[&str]) {
    let shim = shells::Shim::new(
        "rm",
        "case \"$*\" in *.gone-staged*) echo \"rm: cannot remove: Permission denied\" >&2; exit 1 ;; esac\nexec \"$real\" \"$@\"",
    );
    let wrapped = shim.shell(shell);
    let (_tmp, dir, a, me) = app(&wrapped, 2, "deploy");
    std::fs::create_dir_all(dir.join("releases").join(".stage-x.by-a").join("tree")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ev = |i: &str| Event { from: Some(i.to_string()), ..Event::now(EventKind::Remove, "t") };
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        let done = a.prune(&[], true, 2, "mine", ev).await.unwrap();
        assert!(done.warnings.iter().any(|w| w.contains("could not all be deleted")), "{done:?}");
        assert!(a.inspect().await.unwrap().leftovers);
    });
}

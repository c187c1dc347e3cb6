//! A switch says truthfully whether it may have moved `current`: one that
//! refused before its rename (the release is not complete) left it where it
//! was; one that renamed and then could not write the history (a full disk,
//! a history file the deploy user cannot write) moved it, and its error
//! says so, under every shell a host may have. A switch is made only while
//! the run's token holds the lock, checked under the lock's guard; one that
//! also releases the lock releases only its own, and only once it switched.

mod shells;

use haul_host::{Event, EventKind, HostApp};
use std::path::Path;

const R1: &str = "20260101T000000.000Z-111111111111";
const R2: &str = "20260101T000001.000Z-222222222222";

fn app(root: &Path) -> std::path::PathBuf {
    let app = root.join("app");
    for r in [R1, R2] {
        std::fs::create_dir_all(app.join("releases").join(r)).unwrap();
        std::fs::write(app.join("releases").join(format!("{r}.manifest")), "").unwrap();
    }
    std::os::unix::fs::symlink(format!("releases/{R1}"), app.join("current")).unwrap();
    std::fs::create_dir_all(app.join(".haul")).unwrap();
    hold(&app, "mine");
    app
}

fn live(app: &Path) -> String {
    std::fs::read_link(app.join("current")).unwrap().display().to_string()
}

/// Switches to `to` under the lock held by `mine`, keeping it.
fn switch(shell: &[&str], app: &Path, to: &str) -> Result<(), haul_host::HostError> {
    let host = HostApp::new(shells::local(shell), app.display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let to = haul_release::ReleaseId::parse(to).unwrap();
    rt.block_on(host.switch(&to, &Event::now(EventKind::Deploy, "test"), "mine"))
}

fn a_switch_that_could_not_write_its_history_says_it_moved_current(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    // The history cannot be appended to: it is a directory.
    std::fs::create_dir_all(app.join(".haul/history")).unwrap();
    let e = switch(shell, &app, R2).unwrap_err();
    assert_eq!(live(&app), format!("releases/{R2}"), "the rename happened");
    assert!(e.switch_may_have_moved(), "{e}");
    assert!(e.to_string().contains("history could not be written"), "{e}");
}

fn a_switch_refused_before_its_rename_says_current_stayed(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    std::fs::remove_file(app.join("releases").join(format!("{R2}.manifest"))).unwrap();
    let e = switch(shell, &app, R2).unwrap_err();
    assert_eq!(live(&app), format!("releases/{R1}"));
    assert!(!e.switch_may_have_moved(), "{e}");
    // And a switch that works records its line.
    std::fs::write(app.join("releases").join(format!("{R2}.manifest")), "").unwrap();
    switch(shell, &app, R2).unwrap();
    assert_eq!(live(&app), format!("releases/{R2}"));
    assert_eq!(std::fs::read_to_string(app.join(".haul/history")).unwrap().lines().count(), 1);
}

/// Switches to `to` and releases the lock if `token` holds it.
fn switch_unlock(shell: &[&str], app: &Path, to: &str, token: &str) -> Result<bool, haul_host::HostError> {
    let host = HostApp::new(shells::local(shell), app.display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let to = haul_release::ReleaseId::parse(to).unwrap();
    rt.block_on(host.switch_unlock(&to, &Event::now(EventKind::Rollback, "test"), token))
}

fn hold(app: &Path, token: &str) {
    std::fs::write(app.join(".haul/lock"), format!("{{\"token\":\"{token}\",\"user\":\"t\"}}\n")).unwrap();
}

fn a_switch_that_releases_the_lock_releases_only_its_own_and_only_after_switching(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let lock = app.join(".haul/lock");

    hold(&app, "mine");
    assert!(switch_unlock(shell, &app, R2, "mine").unwrap(), "released");
    assert_eq!(live(&app), format!("releases/{R2}"));
    assert!(!lock.exists(), "our lock is gone");
    assert_eq!(std::fs::read_to_string(app.join(".haul/history")).unwrap().lines().count(), 1);

    // Under someone else's lock (ours cleared and taken since), or none,
    // nothing is switched, recorded or released.
    for theirs in [true, false] {
        if theirs {
            hold(&app, "theirs");
        }
        let e = switch_unlock(shell, &app, R1, "mine").unwrap_err();
        assert!(e.lock_not_held() && !e.switch_may_have_moved(), "{e}");
        assert_eq!(live(&app), format!("releases/{R2}"));
        assert_eq!(lock.exists(), theirs);
        assert!(!theirs || std::fs::read_to_string(&lock).unwrap().contains("theirs"), "their lock stays");
        assert_eq!(std::fs::read_to_string(app.join(".haul/history")).unwrap().lines().count(), 1);
        std::fs::remove_file(&lock).ok();
    }

    // A refused switch keeps our lock: the run releases it as usual.
    hold(&app, "mine");
    std::fs::remove_file(app.join("releases").join(format!("{R1}.manifest"))).unwrap();
    let e = switch_unlock(shell, &app, R1, "mine").unwrap_err();
    assert!(!e.switch_may_have_moved(), "{e}");
    assert!(lock.exists(), "a failed switch does not release the lock");
    assert_eq!(live(&app), format!("releases/{R2}"));
}

/// A switch under someone else's lock, or none: a deploy whose lock was
/// cleared (`haul unlock`) or taken over since it took it moves nothing.
fn a_switch_whose_lock_is_no_longer_its_own_moves_nothing(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    for theirs in [true, false] {
        if theirs {
            hold(&app, "theirs");
        } else {
            std::fs::remove_file(app.join(".haul/lock")).unwrap();
        }
        let e = switch(shell, &app, R2).unwrap_err();
        assert!(e.lock_not_held() && !e.switch_may_have_moved(), "{e}");
        assert!(e.to_string().contains("no longer this run's"), "{e}");
        assert_eq!(live(&app), format!("releases/{R1}"));
        assert!(!app.join(".haul/history").exists(), "nothing recorded");
    }
    hold(&app, "mine");
    switch(shell, &app, R2).unwrap();
    assert_eq!(live(&app), format!("releases/{R2}"));
    assert!(app.join(".haul/lock").exists(), "a plain switch keeps the lock");
    let left: Vec<_> = std::fs::read_dir(app.join(".haul")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().starts_with("lock.guard")), "a guard file was left: {left:?}");
}

/// The lock is judged and the switch made under the guard: while someone
/// else holds the guard (releasing, taking over or clearing the lock), the
/// switch waits, and makes it once the guard is free.
fn a_switch_whose_lock_guard_is_busy_waits_for_it_then_switches_and_releases(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    // The guard is taken by something that is not a haul script.
    std::fs::write(app.join(".haul/lock.guard"), "not a haul script\n").unwrap();
    let rt = std::thread::spawn({
        let (shell, app) = (shell.iter().map(|s| s.to_string()).collect::<Vec<_>>(), app.clone());
        move || {
            let shell: Vec<&str> = shell.iter().map(String::as_str).collect();
            switch_unlock(&shell, &app, R2, "mine")
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(live(&app), format!("releases/{R1}"), "switched while another held the guard");
    std::fs::remove_file(app.join(".haul/lock.guard")).unwrap();
    assert!(rt.join().unwrap().unwrap(), "released once the guard was free");
    assert_eq!(live(&app), format!("releases/{R2}"));
    assert!(!app.join(".haul/lock").exists());
}

under_every_shell!(
    a_switch_that_could_not_write_its_history_says_it_moved_current,
    a_switch_refused_before_its_rename_says_current_stayed,
    a_switch_that_releases_the_lock_releases_only_its_own_and_only_after_switching,
    a_switch_whose_lock_is_no_longer_its_own_moves_nothing,
    a_switch_whose_lock_guard_is_busy_waits_for_it_then_switches_and_releases,
);

//! A lock held by an open session (`HostApp::lock_hold`) is the same lock
//! as every other taker's, and whatever haul does with it, it ends
//! released: by a switch, by a release, or by haul letting go of the
//! session. Nothing but a `switch` command changes the host, under every
//! shell a host may have.

mod shells;

use haul_host::{Event, EventKind, Holder, HostApp, LockInfo, LockOutcome};
use std::path::Path;
use std::time::Duration;

const R1: &str = "20260101T000000.000Z-111111111111";
const R2: &str = "20260101T000001.000Z-222222222222";

fn app(root: &Path) -> std::path::PathBuf {
    let app = root.join("app");
    for r in [R1, R2] {
        std::fs::create_dir_all(app.join("releases").join(r)).unwrap();
        std::fs::write(app.join("releases").join(format!("{r}.manifest")), "").unwrap();
    }
    std::os::unix::fs::symlink(format!("releases/{R1}"), app.join("current")).unwrap();
    app
}

fn host(shell: &[&str], app: &Path) -> HostApp {
    HostApp::new(shells::local(shell), app.display().to_string())
}

fn live(app: &Path) -> String {
    std::fs::read_link(app.join("current")).unwrap().display().to_string()
}

fn info(token: &str) -> LockInfo {
    LockInfo {
        token: token.into(),
        user: "tester".into(),
        holder: Holder::current(),
        since: jiff::Timestamp::now().to_string(),
        command: format!("rollback by {token}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn history(app: &Path) -> usize {
    std::fs::read_to_string(app.join(".haul/history")).map(|h| h.lines().count()).unwrap_or(0)
}

/// Waits (a few seconds at most) until the lock file is gone.
async fn released(app: &Path) -> bool {
    for _ in 0..100 {
        if !app.join(".haul/lock").exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn a_held_lock_is_read_under_and_switches_then_releases_in_one_session(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    runtime().block_on(async {
        let (outcome, held) = h.lock_hold(&info("mine")).await.unwrap();
        assert!(matches!(outcome, LockOutcome::Acquired));
        let (state, held) = held.expect("held");
        assert_eq!(state.current.as_deref(), Some(R1));
        assert_eq!(state.lock.as_ref().expect("read under the lock").token, "mine");
        assert!(state.has_complete(R2));
        // While it is held, every other taker sees it held, by us.
        match h.lock(&info("theirs")).await.unwrap() {
            LockOutcome::Held(by) => assert_eq!(by.token, "mine"),
            LockOutcome::Acquired => panic!("two holders at once"),
        }
        let (second, none) = h.lock_hold(&info("theirs")).await.unwrap();
        assert!(matches!(second, LockOutcome::Held(by) if by.token == "mine"));
        assert!(none.is_none(), "nothing is held or read under someone else's lock");
        assert_eq!(live(&app), format!("releases/{R1}"), "holding changes nothing");

        let to = haul_release::ReleaseId::parse(R2).unwrap();
        assert!(held.switch_unlock(&to, &Event::now(EventKind::Rollback, "tester")).await.unwrap());
        assert_eq!(live(&app), format!("releases/{R2}"));
        assert!(!app.join(".haul/lock").exists(), "released after the switch");
        assert_eq!(history(&app), 1, "the switch is recorded once");
    });
}

fn a_held_lock_let_go_or_released_changes_nothing_and_frees_the_lock(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    runtime().block_on(async {
        let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
        held.expect("held").1.release().await.unwrap();
        assert!(!app.join(".haul/lock").exists(), "released when it returns");

        // Dropped without a word: the script reads the end of its input.
        let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
        drop(held.expect("held"));
        assert!(released(&app).await, "a dropped hold releases the lock");
        assert_eq!(live(&app), format!("releases/{R1}"));
        assert_eq!(history(&app), 0, "nothing was switched or recorded");
    });
}

fn a_held_lock_that_is_no_longer_ours_is_left_to_its_new_holder(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    runtime().block_on(async {
        let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
        let (_, held) = held.expect("held");
        // Someone cleared ours (`haul unlock`) and took it meanwhile.
        std::fs::write(app.join(".haul/lock"), "{\"token\":\"theirs\",\"user\":\"t\"}\n").unwrap();
        held.release().await.unwrap();
        let lock = std::fs::read_to_string(app.join(".haul/lock")).unwrap();
        assert!(lock.contains("theirs"), "their lock stays: {lock}");
    });
}

fn a_held_switch_refused_before_its_rename_keeps_the_lock_and_current(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    runtime().block_on(async {
        let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
        let (_, held) = held.expect("held");
        std::fs::remove_file(app.join("releases").join(format!("{R2}.manifest"))).unwrap();
        let to = haul_release::ReleaseId::parse(R2).unwrap();
        let e = held.switch_unlock(&to, &Event::now(EventKind::Rollback, "tester")).await.unwrap_err();
        assert!(!e.switch_may_have_moved(), "{e}");
        assert!(e.to_string().contains("not complete"), "{e}");
        assert_eq!(live(&app), format!("releases/{R1}"));
        assert!(app.join(".haul/lock").exists(), "kept for the run to release, as switch_unlock does");
        h.unlock("mine").await.unwrap();
    });
}

fn a_held_switch_that_could_not_write_its_history_says_it_moved_current(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    runtime().block_on(async {
        let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
        let (_, held) = held.expect("held");
        std::fs::create_dir_all(app.join(".haul/history")).unwrap();
        let to = haul_release::ReleaseId::parse(R2).unwrap();
        let e = held.switch_unlock(&to, &Event::now(EventKind::Rollback, "tester")).await.unwrap_err();
        assert!(e.switch_may_have_moved(), "{e}");
        assert_eq!(live(&app), format!("releases/{R2}"));
    });
}

/// A lock cleared (`haul unlock`) or taken by someone else while a run
/// holds it through its session: neither the kept lock's switch nor the
/// held one's switch-and-release moves `current` or records anything, each
/// says why, and the other holder's lock stays.
fn a_held_switch_whose_lock_was_cleared_or_taken_is_refused_and_moves_nothing(shell: &[&str]) {
    let to = haul_release::ReleaseId::parse(R2).unwrap();
    let event = || Event::now(EventKind::Deploy, "tester");
    for taken in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let app = app(tmp.path());
        let h = host(shell, &app);
        let what = if taken { "taken" } else { "cleared" };
        let steal = || {
            if taken {
                std::fs::write(app.join(".haul/lock"), "{\"token\":\"theirs\",\"user\":\"t\"}\n").unwrap();
            } else {
                std::fs::remove_file(app.join(".haul/lock")).unwrap();
            }
        };
        let theirs = || {
            let lock = std::fs::read_to_string(app.join(".haul/lock")).ok();
            assert_eq!(lock.is_some(), taken, "{what}: {lock:?}");
            assert!(lock.is_none_or(|l| l.contains("theirs")), "{what}: their lock stays");
        };
        runtime().block_on(async {
            let (_, held) = h.lock_keep(&info("mine")).await.unwrap();
            let (_, mut held) = held.expect("held");
            steal();
            let e = held.switch(&to, &event()).await.unwrap_err();
            assert!(e.lock_not_held() && !e.switch_may_have_moved(), "{what}: {e}");
            assert!(e.to_string().contains("no longer this run's"), "{what}: {e}");
            held.release().await.unwrap();
            theirs();

            if taken {
                std::fs::remove_file(app.join(".haul/lock")).unwrap();
            }
            let (_, held) = h.lock_hold(&info("mine")).await.unwrap();
            let (_, held) = held.expect("held");
            steal();
            let e = held.switch_unlock(&to, &event()).await.unwrap_err();
            assert!(e.lock_not_held() && !e.switch_may_have_moved(), "{what}: {e}");
            theirs();
        });
        assert_eq!(live(&app), format!("releases/{R1}"), "{what}: current moved");
        assert_eq!(history(&app), 0, "{what}: a switch was recorded");
        let left: Vec<_> = std::fs::read_dir(app.join(".haul")).unwrap().flatten().map(|e| e.file_name()).collect();
        let guard = left.iter().any(|n| n.to_string_lossy().starts_with("lock.guard"));
        assert!(!guard, "{what}: a guard file was left: {left:?}");
    }
}

/// A host whose `current` is not a release (pointed elsewhere by hand)
/// cannot be read: taking its lock to read it fails, naming why, and
/// leaves no lock behind, whether the lock was to be held or not.
fn a_host_that_cannot_be_read_under_its_lock_is_left_unlocked(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    std::fs::remove_file(app.join("current")).unwrap();
    std::os::unix::fs::symlink("/var/www", app.join("current")).unwrap();
    let h = host(shell, &app);
    runtime().block_on(async {
        let e = h.lock_hold(&info("mine")).await.unwrap_err();
        assert!(e.to_string().contains("not to a release"), "{e}");
        assert!(!app.join(".haul/lock").exists(), "lock_hold left its lock");
        let e = h.lock_inspect(&info("mine")).await.unwrap_err();
        assert!(e.to_string().contains("not to a release"), "{e}");
        assert!(!app.join(".haul/lock").exists(), "lock_inspect left its lock");
    });
}

/// A lock kept through a deploy (`lock_keep`): switched in its session and
/// switched again (a switch back) with the lock held throughout, each
/// switch recorded once; a refused switch leaves the session usable; and a
/// session that ends without a word leaves the lock where it is, for the
/// run's own unlock, never released behind a run that works on under it.
fn a_kept_lock_switches_in_its_session_and_outlives_a_lost_session(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let h = host(shell, &app);
    let (r1, r2) = (haul_release::ReleaseId::parse(R1).unwrap(), haul_release::ReleaseId::parse(R2).unwrap());
    let event = || Event::now(EventKind::Deploy, "tester");
    runtime().block_on(async {
        let (outcome, held) = h.lock_keep(&info("mine")).await.unwrap();
        assert!(matches!(outcome, LockOutcome::Acquired));
        let (state, mut held) = held.expect("held");
        assert_eq!(state.current.as_deref(), Some(R1));
        held.switch(&r2, &event()).await.unwrap();
        assert_eq!(live(&app), format!("releases/{R2}"));
        assert!(matches!(h.lock(&info("theirs")).await.unwrap(), LockOutcome::Held(by) if by.token == "mine"));
        held.switch(&r1, &event()).await.unwrap();
        assert_eq!(live(&app), format!("releases/{R1}"));
        assert_eq!(history(&app), 2, "each switch recorded once");

        // Refused before its rename, with the host's reason; still held,
        // and the session still answers.
        let half = "20260101T000002.000Z-333333333333";
        std::fs::create_dir_all(app.join("releases").join(half)).unwrap();
        let e = held.switch(&haul_release::ReleaseId::parse(half).unwrap(), &event()).await.unwrap_err();
        assert!(!e.switch_may_have_moved(), "{e}");
        assert!(e.to_string().contains("not complete"), "{e}");
        assert_eq!(live(&app), format!("releases/{R1}"));
        held.switch(&r2, &event()).await.unwrap();
        assert_eq!(live(&app), format!("releases/{R2}"));

        // Let go without a word: the lock stays, for its holder to release.
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lock = std::fs::read_to_string(app.join(".haul/lock")).expect("a lost session leaves the lock");
        assert!(lock.contains("\"token\":\"mine\""), "{lock}");
        h.unlock("mine").await.unwrap();
        assert!(!app.join(".haul/lock").exists());

        // Released by its word, after a switch.
        let (_, held) = h.lock_keep(&info("mine")).await.unwrap();
        let (_, mut held) = held.expect("held");
        held.switch(&r1, &event()).await.unwrap();
        held.release().await.unwrap();
        assert!(!app.join(".haul/lock").exists(), "released when it returns");
        assert_eq!(live(&app), format!("releases/{R1}"));
    });
}

under_every_shell!(
    a_held_switch_whose_lock_was_cleared_or_taken_is_refused_and_moves_nothing,
    a_kept_lock_switches_in_its_session_and_outlives_a_lost_session,
    a_host_that_cannot_be_read_under_its_lock_is_left_unlocked,
    a_held_lock_is_read_under_and_switches_then_releases_in_one_session,
    a_held_lock_let_go_or_released_changes_nothing_and_frees_the_lock,
    a_held_lock_that_is_no_longer_ours_is_left_to_its_new_holder,
    a_held_switch_refused_before_its_rename_keeps_the_lock_and_current,
    a_held_switch_that_could_not_write_its_history_says_it_moved_current,
);

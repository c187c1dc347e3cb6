//! The lock protocol under real concurrency: many `sh` processes taking,
//! releasing and taking over one lock at once, round after round, through
//! the local transport (the same scripts a host runs over SSH), under each
//! shell a host may have.

mod shells;

use haul_host::{Event, EventKind, Holder, HostApp, LockInfo, LockOutcome};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn app(dir: &Path, shell: &[&str]) -> HostApp {
    HostApp::new(shells::local(shell), dir.join("app").display().to_string())
}

fn info(token: &str, holder: Holder) -> LockInfo {
    LockInfo {
        token: token.into(),
        user: "tester".into(),
        holder,
        since: jiff::Timestamp::now().to_string(),
        command: format!("deploy by {token}"),
    }
}

/// A holder that certainly ran here and is gone: a child that exited.
fn dead_holder() -> Holder {
    let mut child = std::process::Command::new("sleep").arg("0.05").spawn().unwrap();
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap();
    child.wait().unwrap();
    Holder { pid, start: Some(start), ..Holder::current() }
}

under_every_shell!(
    racing_takers_hold_the_lock_one_at_a_time_and_never_see_it_missing,
    racing_take_overs_of_a_dead_lock_let_exactly_one_in,
    a_release_by_a_holder_that_lost_its_lock_leaves_the_new_holder_alone,
    an_empty_or_torn_lock_file_is_held_by_someone_unknown_until_cleared,
    a_guard_left_by_a_killed_script_is_recovered,
    taking_the_lock_and_reading_the_host_in_one_script_is_the_same_lock,
);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn racing_takers_hold_the_lock_one_at_a_time_and_never_see_it_missing(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    let inside = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let (workers, rounds) = (8, 8);
    runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..workers {
            let (a, inside, taken) = (a.clone(), inside.clone(), taken.clone());
            tasks.spawn(async move {
                for r in 0..rounds {
                    let me = info(&format!("w{w}-r{r}"), Holder::current());
                    loop {
                        match a.lock(&me).await.expect("taking the lock never fails") {
                            LockOutcome::Acquired => {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                                inside.fetch_sub(1, Ordering::SeqCst);
                                taken.fetch_add(1, Ordering::SeqCst);
                                a.unlock(&me.token).await.expect("release");
                                break;
                            }
                            LockOutcome::Held(other) => {
                                assert!(!other.is_unreadable(), "a lock read half-written: {other:?}");
                                assert_ne!(other.token, me.token);
                            }
                        }
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    });
    assert_eq!(taken.load(Ordering::SeqCst), workers * rounds);
    let haul = tmp.path().join("app/.haul");
    assert!(!haul.join("lock").exists());
    let left: Vec<_> = std::fs::read_dir(&haul).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| n == "history"), "nothing left behind: {left:?}");
}

fn racing_take_overs_of_a_dead_lock_let_exactly_one_in(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    let rt = runtime();
    for round in 0..8 {
        let dead = info(&format!("dead{round}"), dead_holder());
        rt.block_on(async {
            assert!(matches!(a.lock(&dead).await.unwrap(), LockOutcome::Acquired));
            let mut tasks = tokio::task::JoinSet::new();
            for w in 0..8 {
                let (a, dead) = (a.clone(), dead.clone());
                tasks.spawn(async move {
                    let me = info(&format!("r{round}-w{w}"), Holder::current());
                    let seen = match a.lock(&me).await.unwrap() {
                        LockOutcome::Acquired => return (me.token, true),
                        LockOutcome::Held(seen) => seen,
                    };
                    let ok = if seen.holder.dead(&me.holder).is_some() {
                        let ev = Event { reason: Some("taken over".into()), ..Event::now(EventKind::Unlock, "t") };
                        matches!(a.take_over(&seen, &me, &ev).await.unwrap(), LockOutcome::Acquired)
                    } else {
                        assert_ne!(seen.token, dead.token, "the dead holder is judged dead");
                        false
                    };
                    (me.token, ok)
                });
            }
            let mut winners = Vec::new();
            while let Some(r) = tasks.join_next().await {
                let (token, ok) = r.unwrap();
                if ok {
                    winners.push(token);
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: exactly one takes over: {winners:?}");
            let lock = std::fs::read_to_string(tmp.path().join("app/.haul/lock")).unwrap();
            assert!(lock.contains(&format!("\"token\":\"{}\"", winners[0])), "{lock}");
            a.unlock(&winners[0]).await.unwrap();
        });
    }
    let hist = std::fs::read_to_string(tmp.path().join("app/.haul/history")).unwrap();
    assert_eq!(hist.lines().count(), 8, "one take-over recorded per round:\n{hist}");
}

fn a_release_by_a_holder_that_lost_its_lock_leaves_the_new_holder_alone(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    runtime().block_on(async {
        let old = info("old", dead_holder());
        assert!(matches!(a.lock(&old).await.unwrap(), LockOutcome::Acquired));
        let new = info("new", Holder::current());
        let ev = Event::now(EventKind::Unlock, "t");
        assert!(matches!(a.take_over(&old, &new, &ev).await.unwrap(), LockOutcome::Acquired));
        // The old holder (wrongly thought dead) releases: nothing happens.
        a.unlock("old").await.unwrap();
        match a.lock(&info("third", Holder::current())).await.unwrap() {
            LockOutcome::Held(h) => assert_eq!(h.token, "new"),
            LockOutcome::Acquired => panic!("the new holder lost its lock"),
        }
        // A take-over of a lock that changed hands reports the new holder.
        match a.take_over(&old, &info("fourth", Holder::current()), &ev).await.unwrap() {
            LockOutcome::Held(h) => assert_eq!(h.token, "new"),
            LockOutcome::Acquired => panic!("took over a live lock"),
        }
    });
}

fn an_empty_or_torn_lock_file_is_held_by_someone_unknown_until_cleared(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    let haul = tmp.path().join("app/.haul");
    std::fs::create_dir_all(&haul).unwrap();
    runtime().block_on(async {
        for torn in ["", "{\"token\":\"t1\",\"user\":\"gh"] {
            std::fs::write(haul.join("lock"), torn).unwrap();
            let me = info("me", Holder::current());
            match a.lock(&me).await.unwrap() {
                LockOutcome::Held(h) => {
                    assert!(h.is_unreadable(), "{h:?}");
                    assert!(h.describe().contains("its holder is unknown"), "{}", h.describe());
                }
                LockOutcome::Acquired => panic!("took a lock over a torn lock file"),
            }
            let state = a.inspect().await.unwrap();
            assert!(state.lock.as_ref().is_some_and(|l| l.is_unreadable()), "status shows it: {:?}", state.lock);
            let cleared = a.force_unlock(&Event::now(EventKind::Unlock, "t")).await.unwrap();
            assert!(cleared.is_some_and(|l| l.is_unreadable()));
            assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
            a.unlock("me").await.unwrap();
        }
    });
}

fn a_guard_left_by_a_killed_script_is_recovered(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    let haul = tmp.path().join("app/.haul");
    std::fs::create_dir_all(&haul).unwrap();
    let dead = dead_holder();
    let guard = format!("{} {} {} {}\n", dead.boot.unwrap(), dead.pidns.unwrap(), dead.pid, dead.start.unwrap());
    std::fs::write(haul.join("lock.guard"), guard).unwrap();
    runtime().block_on(async {
        let me = info("me", Holder::current());
        assert!(matches!(a.lock(&me).await.unwrap(), LockOutcome::Acquired));
        let t0 = std::time::Instant::now();
        a.unlock("me").await.unwrap();
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    });
    assert!(!haul.join("lock").exists() && !haul.join("lock.guard").exists());
}

#[test]
fn a_holder_in_another_pid_namespace_is_never_judged_dead() {
    // A real process in its own pid namespace, where its pid means another
    // process (or none) out here.
    let mut ns = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c"])
        .arg(
            "cat /proc/sys/kernel/random/boot_id; readlink /proc/self/ns/pid; echo $$; \
             sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20; exec sleep 30",
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("unshare runs (as root)");
    let mut out = std::io::BufReader::new(ns.stdout.take().unwrap());
    let mut line = || {
        let mut s = String::new();
        std::io::BufRead::read_line(&mut out, &mut s).unwrap();
        s.trim().to_string()
    };
    let (boot, pidns, pid, start) = (line(), line(), line(), line());
    let theirs = Holder {
        machine: Holder::current().machine,
        pid: pid.parse().unwrap(),
        boot: Some(boot),
        pidns: Some(pidns),
        start: start.parse().ok(),
    };
    let me = Holder::current();
    assert_eq!(theirs.boot, me.boot, "same machine, same boot");
    assert_ne!(theirs.pidns, me.pidns);
    assert_eq!(theirs.dead(&me), None, "{theirs:?} is alive in its own namespace");
    ns.kill().unwrap();
    ns.wait().unwrap();
}

/// `lock_inspect` (one script: take, then read under the lock) races
/// plain takers and is one of them: never two holders, a held lock reads
/// nothing, and what it reads shows the lock it just took.
fn taking_the_lock_and_reading_the_host_in_one_script_is_the_same_lock(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let a = app(tmp.path(), shell);
    let inside = Arc::new(AtomicUsize::new(0));
    runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        // Takers of each kind at once: the lock alone, the lock and the
        // host read under it, and the lock held by an open session, let go
        // by a release or by dropping it.
        for w in 0..6 {
            let (a, inside) = (a.clone(), inside.clone());
            tasks.spawn(async move {
                for r in 0..6 {
                    let me = info(&format!("w{w}-r{r}"), Holder::current());
                    loop {
                        let (outcome, state, held) = match w % 3 {
                            0 => {
                                let (o, s) = a.lock_inspect(&me).await.expect("taking the lock never fails");
                                (o, s, None)
                            }
                            1 => (a.lock(&me).await.expect("taking the lock never fails"), None, None),
                            _ => {
                                let (o, h) = a.lock_hold(&me).await.expect("taking the lock never fails");
                                let (s, h) = h.map(|(s, h)| (Some(s), Some(h))).unwrap_or((None, None));
                                (o, s, h)
                            }
                        };
                        match outcome {
                            LockOutcome::Acquired => {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                                if w % 3 != 1 {
                                    let state = state.expect("read under the lock");
                                    let held = state.lock.expect("the lock just taken is on the host");
                                    assert_eq!(held.token, me.token);
                                }
                                inside.fetch_sub(1, Ordering::SeqCst);
                                match held {
                                    Some(h) if r % 2 == 0 => h.release().await.expect("release"),
                                    Some(h) => drop(h),
                                    None => a.unlock(&me.token).await.expect("release"),
                                }
                                break;
                            }
                            LockOutcome::Held(other) => {
                                assert!(state.is_none() && held.is_none(), "nothing is read under someone else's lock");
                                assert_ne!(other.token, me.token);
                            }
                        }
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        // The last hold was dropped: its script releases on its own.
        for _ in 0..100 {
            if !tmp.path().join("app/.haul/lock").exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    assert!(!tmp.path().join("app/.haul/lock").exists());
}

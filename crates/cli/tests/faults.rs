//! The fault matrix on the SSH test fleet: a host dying in each phase of a
//! deploy (stage, migrate, switch, verify) under each rollout (`fleet`,
//! `rolling`), haul itself killed with SIGKILL in each of them (and on
//! local hosts), and a host whose disk fills during stage. Every case ends
//! consistent on every host and converges on an immediate rerun, and the
//! ledger records what happened truly.
//!
//! A run is held in a phase by a step that waits while a marker file
//! exists on the host (`/srv/hold`), after touching `/srv/held`: the test
//! waits for that marker instead of sleeping. Needs root, as CI runs.

mod common;

use common::fleet::{deploy, live, on, wait_for_file as wait_for};
use common::{Project, report};
use haul_testfleet::{Fleet, FleetOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Stage,
    Migrate,
    Switch,
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollout {
    Fleet,
    Rolling,
}

use Phase::*;
use Rollout::*;

/// The step that holds a run while `/srv/hold` exists on its host.
const HOLD: &str = "if [ -f /srv/hold ]; then touch /srv/held; while [ -f /srv/hold ]; do sleep 0.05; done; fi";

/// `[apps.app]` additions that run [`HOLD`] in `phase` on every host.
fn holding(phase: Phase) -> String {
    match phase {
        Stage => format!("post_upload = ['{HOLD}']\n"),
        Migrate => format!("[apps.app.migrate]\nper_host = ['{HOLD}']\n"),
        Switch => format!("[apps.app.service]\nstart = ['{HOLD}']\n"),
        Verify => format!("[[apps.app.health]]\ncommand = '{HOLD}'\ntimeout = \"60s\"\nretries = 0\n"),
    }
}

/// A fleet of `opts.hosts` hosts and a project deploying `app` to all of
/// them as environment `prod` with `rollout`; `app` is appended to
/// `[apps.app]`.
fn setup(opts: FleetOptions, rollout: Rollout, app: &str) -> (Fleet, Project) {
    let fleet = Fleet::start(opts).expect("fleet starts");
    let rollout = match rollout {
        Fleet => "fleet",
        Rolling => "rolling",
    };
    let p = common::fleet::project(&fleet, app, &format!("rollout = \"{rollout}\""));
    (fleet, p)
}

/// Every host is consistent: `current` points at a complete release (its
/// manifest beside it), every release directory is complete, nothing is
/// left of a staging, and no lock is held.
#[track_caller]
fn assert_consistent(fleet: &Fleet) {
    for (i, h) in fleet.hosts.iter().enumerate() {
        let name = &h.name;
        let releases = on(fleet, i, "/srv/app/releases");
        if let Some(id) = live(fleet, i) {
            assert!(releases.join(&id).is_dir(), "{name}: current points at a missing release {id}");
            assert!(releases.join(format!("{id}.manifest")).is_file(), "{name}: current points at incomplete {id}");
        }
        for e in std::fs::read_dir(&releases).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with('.') && !n.ends_with(".tmp"), "{name}: a staging was left behind: {n}");
            if e.path().is_dir() {
                assert!(releases.join(format!("{n}.manifest")).is_file(), "{name}: half-staged release {n} remains");
            }
        }
        assert!(!on(fleet, i, "/srv/app/.haul/lock").exists(), "{name}: a lock is still held");
    }
}

/// [`assert_consistent`] for a run that was killed: its locks may still be
/// there (the next run decides what to do with them), the rest must hold.
#[track_caller]
fn assert_consistent_but_locks(fleet: &Fleet) {
    for (i, h) in fleet.hosts.iter().enumerate() {
        let releases = on(fleet, i, "/srv/app/releases");
        if let Some(id) = live(fleet, i) {
            assert!(releases.join(format!("{id}.manifest")).is_file(), "{}: current points at incomplete {id}", h.name);
        }
    }
}

/// The ledger: the newest deployment (the rerun) succeeded, the one before
/// (the faulted run) is closed as `status` and says why, and the audit
/// chain is whole.
#[track_caller]
fn assert_recorded(p: &Project, status: &str) {
    let history = p.haul(&["history", "--json"]).ok().json();
    let (rerun, faulted) = (&history[0], &history[1]);
    assert_eq!(rerun["status"], "succeeded", "{history}");
    assert_eq!(faulted["status"], status, "{history}");
    assert!(faulted["message"].as_str().is_some_and(|m| !m.is_empty()), "the failure says why: {faulted}");
    p.haul(&["audit", "verify"]).ok();
}

/// Host h2 dies while the run is held in `phase`; then it comes back and
/// the rerun converges.
fn host_dies(phase: Phase, rollout: Rollout) {
    let (fleet, p) = setup(FleetOptions { hosts: 2, ..FleetOptions::default() }, rollout, &holding(phase));
    let v1 = deploy(&p);
    p.write("src/index.html", "<h1>v2</h1>\n");
    std::fs::write(on(&fleet, 1, "/srv/hold"), "").unwrap();
    let child = p.spawn(&["deploy", "app", "prod", "--json"]);
    wait_for(&on(&fleet, 1, "/srv/held"));
    fleet.stop_host(1);
    std::fs::remove_file(on(&fleet, 1, "/srv/hold")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let r = report(&String::from_utf8_lossy(&out.stdout));
    let message = r["message"].as_str().unwrap();
    assert!(
        message.starts_with("h2: ") && message.contains("connection lost"),
        "the error names the host that died: {r}"
    );
    let (h1, h2) = (&r["hosts"][0], &r["hosts"][1]);
    assert_eq!((h2["host"].as_str(), h2["status"].as_str()), (Some("h2"), Some("failed")), "{r}");
    assert!(h2["error"].as_str().is_some_and(|e| e.starts_with("h2: ") && e.contains("connection lost")), "{r}");
    let phase_name = format!("{phase:?}").to_lowercase();
    assert_eq!(h2["reached"].as_str(), Some(phase_name.as_str()), "the report says where h2 died: {r}");
    let recorded = match phase {
        Stage | Migrate => {
            assert!(message.contains(&format!("{phase_name} failed: no host was switched")), "{r}");
            assert_eq!(h1["status"], "untouched", "{r}");
            assert_eq!(live(&fleet, 0).as_deref(), Some(v1.as_str()), "h1 was never switched");
            assert_eq!(live(&fleet, 1).as_deref(), Some(v1.as_str()), "h2 was never switched");
            "failed"
        }
        Switch | Verify => {
            assert_eq!(h1["status"], "switched_back", "{r}");
            assert!(message.contains(&format!("h1: switched back to {v1}")), "{r}");
            assert!(message.contains("h2: could not switch back"), "{r}");
            assert_eq!(live(&fleet, 0).as_deref(), Some(v1.as_str()), "h1 is back on v1");
            "switched_back"
        }
    };
    assert_eq!(h1["live"].as_str(), live(&fleet, 0).as_deref(), "the report says where h1 was left: {r}");
    // h2 died: where a switch back's connection was lost, the report
    // claims nothing (the switch may or may not have run before it died);
    // whatever it claims is true.
    if !h2["live"].is_null() || !matches!(phase, Switch | Verify) {
        assert_eq!(h2["live"].as_str(), live(&fleet, 1).as_deref(), "the report says where h2 was left: {r}");
    }
    // The ledger says the same: closed, with each host's outcome.
    let closed = &p.haul(&["history", "--json"]).ok().json()[0];
    assert_eq!(closed["status"], recorded, "{closed}");
    assert_eq!(closed["message"].as_str(), Some(message), "{closed}");

    fleet.start_host(1).unwrap();
    let v2 = deploy(&p);
    assert_ne!(v1, v2);
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v2.as_str()), "h{} converged", i + 1);
    }
    assert_consistent(&fleet);
    assert_recorded(&p, recorded);
}

/// One `#[test]` per case, so a failure names its phase and rollout;
/// attributes before the fault (an `#[ignore]`) go on every case.
macro_rules! matrix {
    ($(#[$attr:meta])* $fault:ident: $($name:ident => ($phase:expr, $rollout:expr)),* $(,)?) => {
        matrix!(@cases [$(#[$attr])*] $fault: $($name => ($phase, $rollout)),*);
    };
    (@cases $attrs:tt $fault:ident: $($name:ident => ($phase:expr, $rollout:expr)),*) => {
        $(matrix!(@case $attrs $fault $name ($phase, $rollout));)*
    };
    (@case [$(#[$attr:meta])*] $fault:ident $name:ident ($phase:expr, $rollout:expr)) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            $fault($phase, $rollout);
        }
    };
}

matrix!(host_dies:
    host_dies_in_stage_fleet => (Stage, Fleet),
    host_dies_in_stage_rolling => (Stage, Rolling),
    host_dies_in_migrate_fleet => (Migrate, Fleet),
    host_dies_in_migrate_rolling => (Migrate, Rolling),
    host_dies_in_switch_fleet => (Switch, Fleet),
    host_dies_in_switch_rolling => (Switch, Rolling),
    host_dies_in_verify_fleet => (Verify, Fleet),
    host_dies_in_verify_rolling => (Verify, Rolling),
);

/// haul is killed with SIGKILL while h2 is held in `phase`; an immediate
/// rerun succeeds and brings every host to the new release.
fn haul_killed(phase: Phase, rollout: Rollout) {
    let (fleet, p) = setup(FleetOptions { hosts: 2, ..FleetOptions::default() }, rollout, &holding(phase));
    let v1 = deploy(&p);
    p.write("src/index.html", "<h1>v2</h1>\n");
    std::fs::write(on(&fleet, 1, "/srv/hold"), "").unwrap();
    let mut child = p.spawn(&["deploy", "app", "prod", "--json"]);
    wait_for(&on(&fleet, 1, "/srv/held"));
    assert!(std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    // The held step may outlive the run; let it end.
    std::fs::remove_file(on(&fleet, 1, "/srv/hold")).unwrap();
    let switched = (0..2).filter(|&i| live(&fleet, i).as_deref() != Some(v1.as_str())).count();
    match (phase, rollout) {
        (Stage | Migrate, _) => assert_eq!(switched, 0, "killed before the switch: no host switched"),
        (Switch | Verify, Rolling) => assert_eq!(switched, 2, "h1 switched in the batch before, h2 in its own"),
        (Switch | Verify, Fleet) => assert_eq!(switched, 2, "every host switched together"),
    }
    assert_consistent_but_locks(&fleet);

    // At once, with no unlock: the rerun converges.
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok();
    let v2 = out.report()["release"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v2.as_str()), "h{} on the new release", i + 1);
    }
    assert_consistent(&fleet);
    assert_recorded(&p, "failed");
    let killed = &p.haul(&["history", "--json"]).ok().json()[1];
    let why = killed["message"].as_str().unwrap();
    assert!(why.starts_with("abandoned: its runner is gone"), "closed at once, not when its lease ran out: {killed}");
}

matrix!(haul_killed:
    haul_killed_in_stage_fleet => (Stage, Fleet),
    haul_killed_in_stage_rolling => (Stage, Rolling),
    haul_killed_in_migrate_fleet => (Migrate, Fleet),
    haul_killed_in_migrate_rolling => (Migrate, Rolling),
    haul_killed_in_switch_fleet => (Switch, Fleet),
    haul_killed_in_switch_rolling => (Switch, Rolling),
    haul_killed_in_verify_fleet => (Verify, Fleet),
    haul_killed_in_verify_rolling => (Verify, Rolling),
);

/// Bytes that do not compress: a release of this size takes that much disk
/// and that much stream.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_disk_filling_during_stage_switches_no_host_and_removes_the_partial_release() {
    let opts = FleetOptions { hosts: 2, srv_sizes: vec![(1, "2m".into())], ..FleetOptions::default() };
    let (fleet, p) = setup(opts, Fleet, "");
    let v1 = deploy(&p);
    std::fs::write(p.path().join("src/big.bin"), noise(3 << 20)).unwrap();
    let out = p.haul(&["deploy", "app", "prod"]).fails(1);
    assert!(out.stderr.contains("h2: "), "{}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("no space"), "{}", out.stderr);
    assert!(out.stderr.contains("no host was switched"), "{}", out.stderr);
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v1.as_str()), "h{} still on v1", i + 1);
    }
    let left: Vec<String> = std::fs::read_dir(on(&fleet, 1, "/srv/app/releases"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "only v1 and its manifest remain on the full host: {left:?}");
    assert_consistent(&fleet);

    // A smaller release fits.
    std::fs::remove_file(p.path().join("src/big.bin")).unwrap();
    std::fs::write(p.path().join("src/small.bin"), noise(256 << 10)).unwrap();
    let v2 = deploy(&p);
    assert!((0..2).all(|i| live(&fleet, i).as_deref() == Some(v2.as_str())));
    assert_consistent(&fleet);
    assert_recorded(&p, "failed");
}

/// A rollback whose only change on each host is its switch holds each
/// host's lock by the session it was taken in. haul killed while it holds
/// them (in a `before_switch` hook on h2) leaves no lock behind: each host
/// releases its own once the session is gone, and switches nothing. An
/// immediate rerun rolls back.
#[test]
fn a_rollback_killed_while_holding_its_locks_leaves_no_lock_and_no_switch() {
    let (fleet, p) = setup(
        FleetOptions { hosts: 2, ..FleetOptions::default() },
        Fleet,
        &format!("[apps.app.hooks]\nbefore_switch = ['{HOLD}']\n"),
    );
    let v1 = deploy(&p);
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = deploy(&p);
    std::fs::write(on(&fleet, 1, "/srv/hold"), "").unwrap();
    let mut child = p.spawn(&["rollback", "app", "prod"]);
    wait_for(&on(&fleet, 1, "/srv/held"));
    let locks = || (0..2).filter(|&i| on(&fleet, i, "/srv/app/.haul/lock").exists()).count();
    assert_eq!(locks(), 2, "every host is locked before any changes");
    assert!(std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    std::fs::remove_file(on(&fleet, 1, "/srv/hold")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while locks() > 0 {
        assert!(std::time::Instant::now() < deadline, "a lock outlived the killed run's sessions");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v2.as_str()), "h{}: nothing switched", i + 1);
    }
    assert_consistent(&fleet);

    p.haul(&["rollback", "app", "prod"]).ok();
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v1.as_str()), "h{} rolled back", i + 1);
    }
    assert_consistent(&fleet);
}

/// A deploy holds each host's lock by the session it was taken in and
/// switches through it. That session's script killed mid-run on h2 (by a
/// `before_switch` hook there) loses no lock: h2 stays locked for the rest
/// of the run, switches through a new session, and the run ends with every
/// host switched and unlocked.
#[test]
fn a_deploy_whose_held_session_is_killed_keeps_the_lock_and_still_switches() {
    let kill = "if [ -f /srv/kill ]; then me=$(readlink /proc/self/ns/mnt); \
        for p in $(pgrep -f [@]held); do [ \"$(readlink /proc/$p/ns/mnt)\" = \"$me\" ] && kill -KILL $p; done; \
        sleep 0.3; if [ -f /srv/app/.haul/lock ]; then touch /srv/lock-kept; fi; fi";
    let (fleet, p) = setup(
        FleetOptions { hosts: 2, ..FleetOptions::default() },
        Fleet,
        &format!("[apps.app.hooks]\nbefore_switch = ['{kill}']\n"),
    );
    deploy(&p);
    std::fs::write(on(&fleet, 1, "/srv/kill"), "").unwrap();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = deploy(&p);
    assert!(on(&fleet, 1, "/srv/lock-kept").exists(), "h2's lock outlived its killed session");
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v2.as_str()), "h{} switched", i + 1);
    }
    assert_consistent(&fleet);
}

/// A run whose lock on h2 is cleared and taken by someone else while it
/// works (what `haul unlock` from another machine, then another deploy,
/// does; here a `before_switch` hook on h2 writes the other holder's
/// lock): h2's switch is refused under the lock's guard, naming why, and
/// h2 keeps what it ran and the other holder's lock. A deploy switches h1
/// back (its failure policy); a rollback (always `halt`) leaves h1 rolled
/// back. `kind` is `deploy` or `rollback`.
fn a_run_whose_lock_was_taken_never_switches_that_host(kind: &str) {
    let theirs = "{\"token\":\"theirs\",\"user\":\"someone else\"}\n";
    let steal = "if [ -f /srv/steal ]; then cp /srv/steal /srv/app/.haul/lock; fi";
    let (fleet, p) = setup(
        FleetOptions { hosts: 2, ..FleetOptions::default() },
        Fleet,
        &format!("[apps.app.hooks]\nbefore_switch = ['{steal}']\n"),
    );
    let v1 = deploy(&p);
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = deploy(&p);
    if kind == "deploy" {
        p.write("src/index.html", "<h1>v3</h1>\n");
    }
    std::fs::write(on(&fleet, 1, "/srv/steal"), theirs).unwrap();
    let out = p.haul(&[kind, "app", "prod"]).fails(1);
    assert!(out.stderr.contains("h2: ") && out.stderr.contains("no longer this run's"), "{}", out.stderr);
    let h1 = if kind == "deploy" { &v2 } else { &v1 };
    assert_eq!(live(&fleet, 0).as_deref(), Some(h1.as_str()), "h1 after the failed {kind}");
    assert_eq!(live(&fleet, 1).as_deref(), Some(v2.as_str()), "h2 switched under someone else's lock");
    let lock = std::fs::read_to_string(on(&fleet, 1, "/srv/app/.haul/lock")).unwrap();
    assert_eq!(lock, theirs, "the other holder's lock was touched");
    assert!(!on(&fleet, 0, "/srv/app/.haul/lock").exists(), "h1's lock outlived the run");
    assert_consistent_but_locks(&fleet);
}

#[test]
fn a_deploy_whose_lock_was_taken_never_switches_that_host() {
    a_run_whose_lock_was_taken_never_switches_that_host("deploy");
}

#[test]
fn a_rollback_whose_lock_was_taken_never_switches_that_host() {
    a_run_whose_lock_was_taken_never_switches_that_host("rollback");
}

#[test]
fn haul_killed_in_switch_on_local_hosts_converges_on_a_rerun() {
    let marks = tempfile::tempdir().unwrap();
    let (hold, held) = (marks.path().join("hold"), marks.path().join("held"));
    let step = format!(
        "if [ $HAUL_HOST = b ] && [ -f {h} ]; then touch {d}; while [ -f {h} ]; do sleep 0.05; done; fi",
        h = hold.display(),
        d = held.display()
    );
    let p = Project::new(&common::config("", &format!("\n[apps.app.service]\nstart = ['{step}']\n")));
    let v1 = p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    std::fs::write(&hold, "").unwrap();
    let mut child = p.spawn(&["deploy", "app", "test", "--json"]);
    wait_for(&held);
    assert!(std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    std::fs::remove_file(&hold).unwrap();
    assert!(p.host("b").join(".haul/lock").exists(), "the killed run left its lock");

    let v2 = p.deploy();
    assert_ne!(v1, v2);
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v2.as_str()), "{h} on the new release");
        assert!(!p.host(h).join(".haul/lock").exists(), "{h}: a lock is still held");
        for r in p.releases(h) {
            assert!(p.host(h).join(format!("releases/{r}.manifest")).is_file(), "{h}: half-staged {r}");
        }
    }
    let history = p.haul(&["history", "--json"]).ok().json();
    assert_eq!(history[0]["status"], "succeeded", "{history}");
    assert_eq!(history[1]["status"], "failed", "{history}");
    assert!(
        history[1]["message"].as_str().is_some_and(|m| m.starts_with("abandoned: its runner is gone")),
        "{history}"
    );
    p.haul(&["audit", "verify"]).ok();
}

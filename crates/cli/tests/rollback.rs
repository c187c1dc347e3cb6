//! A rollback to a named release with nothing but the switch to do takes
//! one round trip per host (lock, switch, unlock). When a host cannot
//! switch, no host is left switched: the ones that did are switched back,
//! and the rollback runs the usual way, with its usual errors and its
//! take-over of dead locks.

mod common;

use common::{Project, config};

/// Two releases deployed to `a` and `b`: the first, then the live one.
fn two_releases(p: &Project) -> (String, String) {
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    (v1, p.deploy())
}

/// The history of host `h`, one JSON value per line.
fn history(p: &Project, h: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p.host(h).join(".haul/history")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn lock(p: &Project, h: &str, holder: serde_json::Value) {
    let mut lock = serde_json::json!({
        "token": "theirs", "user": "ghost", "since": "2099-01-01T00:00:00Z", "command": "deploy app test",
    });
    lock.as_object_mut().unwrap().extend(holder.as_object().unwrap().clone());
    std::fs::write(p.host(h).join(".haul/lock"), format!("{lock}\n")).unwrap();
}

#[test]
fn a_rollback_to_a_named_release_switches_each_host_records_it_and_leaves_no_lock() {
    let p = Project::new(&config("", ""));
    let (v1, v2) = two_releases(&p);
    let out = p.haul(&["rollback", "app", "test", "--to", &v1]).ok();
    assert!(out.stderr.contains(&format!("rolled back app in test to {v1} on 2 hosts")), "{}", out.stderr);
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v1.as_str()));
        assert!(!p.host(h).join(".haul/lock").exists(), "{h}: no lock left");
        let last = history(&p, h).pop().unwrap();
        assert_eq!(
            (&last["kind"], &last["from"], &last["to"]),
            (&"rollback".into(), &v2.clone().into(), &v1.clone().into())
        );
        assert_eq!(last["env"], "test");
    }
    let out = p.haul(&["rollback", "app", "test", "--to", &v1]).ok();
    assert!(out.stderr.contains(&format!("{v1} is already live on every host")), "{}", out.stderr);
    assert_eq!(history(&p, "a").len(), 3, "an unchanged host records nothing");
    let deps = p.haul(&["history", "app", "test", "--json"]).ok().json();
    assert_eq!(deps[1]["trigger"], "rollback", "{deps}");
    assert_eq!(deps[1]["release"], v1.as_str(), "{deps}");
}

#[test]
fn a_host_whose_lock_is_held_has_every_other_host_switched_back_and_the_rollback_refused() {
    let p = Project::new(&config("", ""));
    let (v1, v2) = two_releases(&p);
    // A live process on another machine: its lock is nobody's to take.
    lock(&p, "b", serde_json::json!({"machine": "build-server-7", "pid": 4242}));
    let out = p.haul(&["rollback", "app", "test", "--to", &v1]).fails(1);
    assert!(out.stderr.contains("b: locked by deploy app test by ghost on build-server-7"), "{}", out.stderr);
    assert_eq!(p.live("a").as_deref(), Some(v2.as_str()), "a is back on what it ran");
    assert_eq!(p.live("b").as_deref(), Some(v2.as_str()));
    assert!(!p.host("a").join(".haul/lock").exists());
    assert!(std::fs::read_to_string(p.host("b").join(".haul/lock")).unwrap().contains("theirs"), "their lock stays");
    let h = history(&p, "a");
    let (there, back) = (&h[h.len() - 2], &h[h.len() - 1]);
    assert_eq!((&there["from"], &there["to"]), (&v2.clone().into(), &v1.clone().into()));
    assert_eq!((&back["from"], &back["to"]), (&v1.clone().into(), &v2.clone().into()));
    assert!(back["reason"].as_str().unwrap().starts_with("undone:"), "{back}");
}

#[test]
fn a_host_without_the_release_has_every_other_host_switched_back_and_the_rollback_refused() {
    let p = Project::new(&config("", ""));
    let (v1, v2) = two_releases(&p);
    std::fs::remove_file(p.host("b").join("releases").join(format!("{v1}.manifest"))).unwrap();
    let out = p.haul(&["rollback", "app", "test", "--to", &v1]).fails(1);
    assert!(out.stderr.contains(&format!("b: release {v1} is not on this host")), "{}", out.stderr);
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v2.as_str()), "{h}");
        assert!(!p.host(h).join(".haul/lock").exists(), "{h}: no lock left");
    }
}

#[test]
fn a_lock_left_by_a_dead_process_here_is_taken_over_by_the_usual_way_and_the_rollback_made() {
    let p = Project::new(&config("", ""));
    let (v1, _) = two_releases(&p);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap();
    child.wait().unwrap();
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    lock(
        &p,
        "b",
        serde_json::json!({
            "machine": machine, "pid": pid, "start": start,
            "boot": std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim(),
            "pidns": std::fs::read_link("/proc/self/ns/pid").unwrap().display().to_string(),
        }),
    );
    let out = p.haul(&["rollback", "app", "test", "--to", &v1]).ok();
    assert!(out.stderr.contains("b: took over a stale lock"), "{}", out.stderr);
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v1.as_str()), "{h}");
        assert!(!p.host(h).join(".haul/lock").exists(), "{h}: no lock left");
    }
}

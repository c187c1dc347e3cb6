//! `haul content sync` of a `files` set (uploads under `shared/`) from a
//! host of `prod` to every host of `stage`, real `sshd` hosts of
//! `haul-testfleet`: only changed files travel, unchanged ones keep their
//! inode, removed ones go, and a refused source changes nothing. Needs
//! root, as CI runs.

mod common;

use common::Project;
use haul_testfleet::{Fleet, FleetOptions};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

fn setup() -> (Fleet, Project) {
    let fleet = Fleet::start(FleetOptions { hosts: 3, ..FleetOptions::default() }).expect("fleet starts");
    let body = format!(
        r#"[apps.app]
ship = "src"
shared = ["uploads/"]

[apps.app.content.uploads]
kind = "files"
paths = ["uploads/"]

[environments.prod]
hosts = ["{}"]

[environments.stage]
hosts = ["{}", "{}"]
content = "prod"
"#,
        fleet.hosts[0].name, fleet.hosts[1].name, fleet.hosts[2].name
    );
    let p = Project::new(&fleet.haul_toml(&body));
    for env in ["prod", "stage"] {
        p.haul(&["deploy", "app", env]).ok();
    }
    (fleet, p)
}

fn uploads(fleet: &Fleet, i: usize, rel: &str) -> PathBuf {
    fleet.hosts[i].path(&format!("/srv/app/shared/uploads/{rel}"))
}

fn put(path: PathBuf, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Every file under a host's uploads, with its content.
fn tree(fleet: &Fleet, i: usize) -> Vec<(String, Vec<u8>)> {
    common::snapshot(&uploads(fleet, i, "")).into_iter().map(|(p, c, _)| (p, c)).collect()
}

#[test]
fn only_changed_files_travel_to_every_target_host_and_removed_ones_go() {
    let (fleet, p) = setup();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    put(uploads(&fleet, 0, "a.txt"), b"same\n");
    put(uploads(&fleet, 0, "sub dir/b c.txt"), b"spaces\n");
    put(uploads(&fleet, 0, "-dash.txt"), b"dash\n");
    put(uploads(&fleet, 0, "big.bin"), &big);
    // h2 already has a.txt as it is, a stale big.bin and a file prod lacks.
    put(uploads(&fleet, 1, "a.txt"), b"same\n");
    put(uploads(&fleet, 1, "big.bin"), b"stale");
    put(uploads(&fleet, 1, "old.txt"), b"gone soon\n");
    let kept = std::fs::metadata(uploads(&fleet, 1, "a.txt")).unwrap().ino();

    let out = p.haul(&["content", "sync", "app", "--to", "stage"]).ok();
    // h2 lacks three files, h3 all four.
    assert!(out.stdout.contains(": 7 files sent"), "{}", out.stdout);
    let want = tree(&fleet, 0);
    assert_eq!(want.len(), 5, "four files and a directory");
    assert_eq!(tree(&fleet, 1), want);
    assert_eq!(tree(&fleet, 2), want);
    assert_eq!(std::fs::metadata(uploads(&fleet, 1, "a.txt")).unwrap().ino(), kept, "an unchanged file is not sent");
    assert!(!fleet.hosts[1].path("/srv/app/shared/.haul-content/uploads").exists(), "staging is cleaned up");

    // Nothing changed: nothing travels.
    let out = p.haul(&["content", "sync", "app", "--to", "stage"]).ok();
    assert!(out.stdout.contains(": 0 files sent"), "{}", out.stdout);
    assert_eq!(tree(&fleet, 2), want);
}

#[test]
fn a_link_in_the_source_is_refused_and_no_target_changes() {
    let (fleet, p) = setup();
    put(uploads(&fleet, 0, "a.txt"), b"new\n");
    std::os::unix::fs::symlink("/etc/passwd", uploads(&fleet, 0, "passwd")).unwrap();
    put(uploads(&fleet, 1, "a.txt"), b"old\n");
    let out = p.haul(&["content", "sync", "app", "--to", "stage"]).fails(1);
    assert!(out.stderr.contains("content set `uploads`: export on h1 failed"), "{}", out.stderr);
    assert!(out.stderr.contains("is a link or a special file"), "{}", out.stderr);
    assert!(out.stderr.contains("environment `stage` is as it was"), "{}", out.stderr);
    assert_eq!(std::fs::read(uploads(&fleet, 1, "a.txt")).unwrap(), b"old\n");
    assert!(!uploads(&fleet, 2, "a.txt").exists());
}

/// A sync takes the deploy lock on every target host, all or none, as a
/// deploy does: a host someone holds refuses the whole sync before any
/// host changes, and a finished sync leaves no lock behind.
#[test]
fn a_sync_into_a_host_someone_holds_is_refused_and_no_target_changes() {
    let (fleet, p) = setup();
    put(uploads(&fleet, 0, "a.txt"), b"new\n");
    put(uploads(&fleet, 1, "a.txt"), b"old\n");
    // A lock nobody can read is held by someone unknown.
    let lock = fleet.hosts[2].path("/srv/app/.haul/lock");
    std::fs::write(&lock, "").unwrap();
    let out = p.haul(&["content", "sync", "app", "--to", "stage"]).fails(1);
    assert!(out.stderr.contains("h3"), "{}", out.stderr);
    assert!(out.stderr.contains("haul unlock app stage"), "{}", out.stderr);
    assert_eq!(std::fs::read(uploads(&fleet, 1, "a.txt")).unwrap(), b"old\n");
    assert!(!fleet.hosts[1].path("/srv/app/.haul/lock").exists(), "the lock taken on h2 was given back");

    std::fs::remove_file(&lock).unwrap();
    p.haul(&["content", "sync", "app", "--to", "stage"]).ok();
    assert_eq!(std::fs::read(uploads(&fleet, 1, "a.txt")).unwrap(), b"new\n");
    for i in 1..3 {
        assert!(!fleet.hosts[i].path("/srv/app/.haul/lock").exists(), "no lock is left on h{}", i + 1);
    }
    p.haul(&["deploy", "app", "stage"]).ok();
}

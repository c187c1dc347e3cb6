//! Push deploys over SSH to a fleet of real `sshd` hosts on loopback, each
//! with its own `/srv` (see `haul-testfleet`). Hosts go down mid-deploy, a
//! bastion guards them, a web server serves from `current` under load.
//! Needs root, as CI runs.

mod common;

use common::Project;
use haul_testfleet::{Fleet, FleetOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fleet of `n` hosts and a project whose environment `prod` is all of
/// them; `app` is appended to `[apps.app]`, `rest` after the environment.
fn setup(n: usize, bastion: bool, app: &str, rest: &str) -> (Fleet, Project) {
    let fleet = Fleet::start(FleetOptions {
        hosts: n,
        bastion,
        ..FleetOptions::default()
    })
    .expect("fleet starts");
    let body = format!(
        "[apps.app]\nship = \"src\"\n{app}\n\n[environments.prod]\nhosts = {}\n{rest}\n",
        fleet.names_toml()
    );
    let p = Project::new(&fleet.haul_toml(&body));
    (fleet, p)
}

fn on(fleet: &Fleet, i: usize, path: &str) -> PathBuf {
    fleet.hosts[i].path(path)
}

fn live(fleet: &Fleet, i: usize) -> Option<String> {
    let link = std::fs::read_link(on(fleet, i, "/srv/app/current")).ok()?;
    Some(link.strip_prefix("releases").ok()?.display().to_string())
}

fn deploy(p: &Project) -> String {
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok();
    out.json()["release"].as_str().unwrap().to_string()
}

/// Waits until `path` exists (a step on a host reached a point).
fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_fleet_deploy_sends_only_what_changed_and_rolls_back() {
    let (fleet, p) = setup(3, false, "shared = [\"log/\"]", "");
    for i in 0..50 {
        p.write(&format!("src/lib/f{i}.txt"), &"x".repeat(1000 + i));
    }
    let v1 = deploy(&p);
    for i in 0..3 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v1.as_str()), "h{}", i + 1);
        assert_eq!(
            std::fs::read_to_string(on(&fleet, i, "/srv/app/current/index.html")).unwrap(),
            "<h1>v1</h1>\n"
        );
        assert!(on(&fleet, i, "/srv/app/shared/log").is_dir());
    }
    // Each host has its own /srv: nothing of the fleet leaks onto this machine.
    assert!(!std::path::Path::new("/srv/app").exists());

    p.write("src/lib/f9.txt", "changed");
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok().json();
    let v2 = out["release"].as_str().unwrap().to_string();
    for h in out["hosts"].as_array().unwrap() {
        assert_eq!(h["stage"]["sent_files"], 1, "{h}");
        assert_eq!(h["stage"]["sent_bytes"], 7);
        assert_eq!(h["stage"]["reused_files"], 51);
    }
    p.haul(&["rollback", "app", "prod"]).ok();
    assert!((0..3).all(|i| live(&fleet, i).as_deref() == Some(v1.as_str())));
    let out = p.haul(&["releases", "app", "prod", "--json"]).ok().json();
    assert_eq!(out[2]["live"], v1.as_str());
    assert!(
        out[2]["releases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == v2.as_str())
    );
}

/// Established TCP connections from this machine to `addr:port`.
fn connections_to(addr: &str, port: u16) -> usize {
    let octets: Vec<u8> = addr.split('.').map(|o| o.parse().unwrap()).collect();
    let want = format!(
        "{:02X}{:02X}{:02X}{:02X}:{:04X}",
        octets[3], octets[2], octets[1], octets[0], port
    );
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[2] == want && f[3] == "01"
        })
        .count()
}

#[test]
fn hosts_behind_a_bastion_refuse_direct_connections_and_share_its_connection() {
    let (fleet, p) = setup(3, true, "post_upload = [\"sleep 1\"]", "");
    // Straight to a host: refused.
    let direct = std::process::Command::new("ssh")
        .args(["-F"])
        .arg(fleet.ssh_config())
        .args([
            "-p",
            &fleet.hosts[0].port.to_string(),
            "-o",
            "ConnectTimeout=5",
            &fleet.hosts[0].address,
            "true",
        ])
        .output()
        .unwrap();
    assert!(
        !direct.status.success(),
        "a direct connection must be refused"
    );

    let mut child = p
        .command(&["deploy", "app", "prod"], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While post-upload steps run on every host, count haul's connections to
    // the bastion: one master, shared by all three hosts behind it.
    wait_for(&on(&fleet, 2, "/srv/app/releases"));
    std::thread::sleep(Duration::from_millis(300));
    let b = fleet.bastion.as_ref().unwrap();
    let n = connections_to(&b.address, b.port);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(n, 1, "hosts behind the bastion share one connection to it");
    assert!((0..3).all(|i| live(&fleet, i).is_some()));
}

//! Push deploys over SSH to a fleet of real `sshd` hosts on loopback, each
//! with its own `/srv` (see `haul-testfleet`). Hosts go down mid-deploy, a
//! bastion guards them, a web server serves from `current` under load.
//! Needs root, as CI runs.

mod common;

use common::Project;
use common::fleet::{deploy, live, on, wait_for_file as wait_for};
use haul_testfleet::{Fleet, FleetOptions};
use std::time::{Duration, Instant};

/// A fleet of `n` hosts and a project whose environment `prod` is all of
/// them; `app` is appended to `[apps.app]`, `rest` after the environment.
fn setup(n: usize, bastion: bool, app: &str, rest: &str) -> (Fleet, Project) {
    let fleet = Fleet::start(FleetOptions { hosts: n, bastion, ..FleetOptions::default() }).expect("fleet starts");
    let p = common::fleet::project(&fleet, app, rest);
    (fleet, p)
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
        assert_eq!(std::fs::read_to_string(on(&fleet, i, "/srv/app/current/index.html")).unwrap(), "<h1>v1</h1>\n");
        assert!(on(&fleet, i, "/srv/app/shared/log").is_dir());
    }
    // Each host has its own /srv: nothing of the fleet leaks onto this machine.
    assert!(!std::path::Path::new("/srv/app").exists());

    p.write("src/lib/f9.txt", "changed");
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok().report();
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
    assert!(out[2]["releases"].as_array().unwrap().iter().any(|r| r["id"] == v2.as_str()));
}

/// Established TCP connections from this machine to `addr:port`.
fn connections_to(addr: &str, port: u16) -> usize {
    let octets: Vec<u8> = addr.split('.').map(|o| o.parse().unwrap()).collect();
    let want = format!("{:02X}{:02X}{:02X}{:02X}:{:04X}", octets[3], octets[2], octets[1], octets[0], port);
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
        .args(["-p", &fleet.hosts[0].port.to_string(), "-o", "ConnectTimeout=5", &fleet.hosts[0].address, "true"])
        .output()
        .unwrap();
    assert!(!direct.status.success(), "a direct connection must be refused");

    let child = p
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
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(n, 1, "hosts behind the bastion share one connection to it");
    assert!((0..3).all(|i| live(&fleet, i).is_some()));
}

#[test]
fn an_unreachable_host_refuses_the_deploy_unless_it_is_skipped() {
    let (fleet, p) = setup(3, false, "", "");
    fleet.stop_host(1);
    let out = p.haul(&["deploy", "app", "prod"]).fails(1);
    assert!(out.stderr.contains("error: cannot reach 1 of 3 hosts; nothing was changed:\nh2: "), "{}", out.stderr);
    assert!(out.stderr.contains("(pass --skip-unreachable to leave it out)"), "{}", out.stderr);
    assert!(!on(&fleet, 0, "/srv/app").exists(), "nothing changed on h1");

    let out = p.haul(&["deploy", "app", "prod", "--skip-unreachable", "--json"]).fails(0).report();
    let v1 = out["release"].as_str().unwrap();
    assert_eq!(live(&fleet, 0).as_deref(), Some(v1));
    assert_eq!(live(&fleet, 2).as_deref(), Some(v1));
    let h2 = out["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "h2").unwrap().clone();
    assert_eq!(h2["status"], "skipped");

    // The host comes back and the next deploy brings it up to date.
    fleet.start_host(1).unwrap();
    deploy(&p);
    assert_eq!(live(&fleet, 1).as_deref(), Some(v1));
}

#[test]
fn a_host_dying_during_stage_switches_no_host_and_a_rerun_converges() {
    let step = r#"post_upload = ["if [ $HAUL_HOST = h2 ] && [ -f slow ] && [ ! -f /srv/once ]; then touch /srv/once /srv/staging; sleep 30; fi"]"#;
    let (fleet, p) = setup(3, false, step, "");
    let v1 = deploy(&p);
    p.write("src/slow", "");
    let child = p.spawn(&["deploy", "app", "prod"]);
    wait_for(&on(&fleet, 1, "/srv/staging"));
    fleet.stop_host(1);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("h2: "), "{stderr}");
    assert!(stderr.contains("stage failed: no host was switched"), "{stderr}");
    for i in 0..3 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v1.as_str()), "h{} still on v1", i + 1);
    }
    fleet.start_host(1).unwrap();
    let v2 = deploy(&p);
    for i in 0..3 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v2.as_str()), "h{} converged", i + 1);
    }
}

#[test]
fn a_host_dying_during_the_switch_switches_every_other_host_back() {
    let (fleet, p) = setup(
        3,
        false,
        "",
        r#"
[apps.app.service]
start = ["if [ $HAUL_HOST = h3 ] && [ -f index2.html ]; then touch /srv/starting; sleep 30; fi"]
"#,
    );
    let v1 = deploy(&p);
    p.write("src/index2.html", "v2");
    let child = p.spawn(&["deploy", "app", "prod"]);
    wait_for(&on(&fleet, 2, "/srv/starting"));
    fleet.stop_host(2);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("h1: switched back to {v1}")), "{stderr}");
    assert!(stderr.contains(&format!("h2: switched back to {v1}")), "{stderr}");
    assert!(stderr.contains("h3: could not switch back"), "{stderr}");
    // The final state of every host is printed.
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(rows[1].starts_with("h1    switched_back"), "{stdout}");
    assert!(rows[3].starts_with("h3    failed"), "{stdout}");
    assert_eq!(live(&fleet, 0).as_deref(), Some(v1.as_str()));
    assert_eq!(live(&fleet, 1).as_deref(), Some(v1.as_str()));
}

#[test]
fn an_interrupted_deploy_stops_between_steps_and_a_rerun_converges() {
    interrupted_deploy("-INT");
}

#[test]
fn a_terminated_deploy_stops_between_steps_and_a_rerun_converges() {
    interrupted_deploy("-TERM");
}

fn interrupted_deploy(signal: &str) {
    let (fleet, p) = setup(2, false, r#"post_upload = ["touch /srv/staged-$HAUL_RELEASE; sleep 2"]"#, "");
    let v1 = deploy(&p);
    p.write("src/index.html", "v2");
    let child = p.spawn(&["deploy", "app", "prod"]);
    let marker = || {
        std::fs::read_dir(on(&fleet, 0, "/srv"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("staged-"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while marker() < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted: stopping after the current step"), "{stderr}");
    assert!(stderr.contains("no host was switched"), "{stderr}");
    for i in 0..2 {
        assert_eq!(live(&fleet, i).as_deref(), Some(v1.as_str()));
        assert!(!on(&fleet, i, "/srv/app/.haul/lock").exists(), "locks released");
        let releases: Vec<_> = std::fs::read_dir(on(&fleet, i, "/srv/app/releases"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(releases.len(), 2, "only v1 and its manifest remain: {releases:?}");
    }
    let v2 = deploy(&p);
    assert!((0..2).all(|i| live(&fleet, i).as_deref() == Some(v2.as_str())));
}

#[test]
fn exec_over_ssh_prefixes_output_and_reports_failing_hosts() {
    let (_fleet, p) = setup(3, false, "", "");
    let out = p.haul(&["exec", "prod", "--", "echo $HAUL_HOST on $(hostname -I 2>/dev/null | wc -w) && pwd"]).ok();
    let mut lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains("/srv")).collect();
    lines.sort();
    assert_eq!(lines, vec!["h1 | /srv", "h2 | /srv", "h3 | /srv"]);
    let out = p.haul(&["exec", "prod", "--role", "db", "--", "echo db"]).ok();
    assert_eq!(out.stdout, "h1 | db\n");
    let out = p.haul(&["exec", "prod", "--", "test $HAUL_HOST != h3"]).fails(1);
    assert!(out.stderr.contains("error: failed on 1 of 3 hosts:\nh3: exit 1"), "{}", out.stderr);
}

/// GETs `/index.html` from `addr:port` over a fresh connection.
fn get(addr: &str, port: u16) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((addr, port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    if body.starts_with("HTTP/1.0 200") { Ok(body) } else { Err(body.lines().next().unwrap_or("").to_string()) }
}

#[test]
fn a_web_server_serving_current_answers_every_request_through_deploys_and_rollbacks() {
    let (fleet, p) = setup(
        2,
        false,
        "",
        "[[apps.app.health]]\nhttp = \"http://{host}:8080/index.html\"\nretries = 20\ninterval = \"100ms\"\n",
    );
    // A web server on each host that resolves `current` on every request,
    // started before anything is deployed (it answers 404 until then).
    let mut servers = Vec::new();
    for h in &fleet.hosts {
        let server = std::process::Command::new("nsenter")
            .arg(format!("--mount=/proc/{}/ns/mnt", h.holder))
            .args([
                "--",
                "python3",
                "-m",
                "http.server",
                "--bind",
                &h.address,
                "8080",
                "--directory",
                "/srv/app/current",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        servers.push(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((h.address.as_str(), 8080)).is_err() {
            assert!(Instant::now() < deadline, "web server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let v1 = deploy(&p);
    let h1 = &fleet.hosts[0];
    get(&h1.address, 8080).expect("v1 is served");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, addr) = (stop.clone(), h1.address.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match get(&addr, 8080) {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        })
    };
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = deploy(&p);
    p.haul(&["rollback", "app", "prod"]).ok();
    p.haul(&["rollback", "app", "prod", "--to", &v2]).ok();
    p.haul(&["rollback", "app", "prod", "--to", &v1]).ok();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    for mut server in servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 50, "only {ok} requests ran");
}

#[test]
fn check_hosts_reports_tools_and_locks_and_unknown_keys_refuse_until_accepted() {
    let (fleet, p) = setup(2, false, "", "");
    std::fs::create_dir_all(on(&fleet, 1, "/srv/app/.haul")).unwrap();
    std::fs::write(
        on(&fleet, 1, "/srv/app/.haul/lock"),
        r#"{"token":"x","user":"ops","machine":"ci-1","pid":7,"since":"2026-11-23T10:00:00Z","command":"deploy app prod"}"#,
    )
    .unwrap();
    let out = p.haul(&["check", "--hosts"]).ok();
    let rows: Vec<&str> = out.stdout.lines().collect();
    assert!(rows[0].starts_with("HOST  REACH  SH   TAR  CP -L  MV -T  RSYNC  FREE"), "{}", out.stdout);
    assert!(rows[1].starts_with("h1    ok     yes  yes  yes    yes    "), "{}", out.stdout);
    assert!(
        rows[2].ends_with("app: deploy app prod by ops on ci-1 (pid 7) since 2026-11-23T10:00:00Z"),
        "{}",
        out.stdout
    );

    // The same fleet with an empty known_hosts: every key is unknown.
    let known = p.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let cfg = std::fs::read_to_string(fleet.ssh_config()).unwrap();
    let cfg = cfg
        .lines()
        .map(|l| {
            if l.starts_with("UserKnownHostsFile") {
                format!("UserKnownHostsFile {}", known.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(p.path().join("ssh_config"), cfg).unwrap();
    let toml = std::fs::read_to_string(p.path().join("haul.toml"))
        .unwrap()
        .replace(&fleet.ssh_config().display().to_string(), "ssh_config");
    p.write("haul.toml", &toml);
    let out = p.haul(&["check", "--hosts"]).fails(1);
    assert!(out.stdout.contains("h1    UNKNOWN KEY"), "{}", out.stdout);
    assert!(
        out.stdout.contains("h2: the host key is not known here. Its fingerprints are:\n  256 SHA256:"),
        "{}",
        out.stdout
    );
    let out = p.haul(&["deploy", "app", "prod"]).fails(1);
    assert!(out.stderr.contains("cannot reach 2 of 2 hosts"), "{}", out.stderr);
    assert!(out.stderr.contains("Host key verification failed"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "", "strict: nothing was trusted");

    p.write("haul.toml", &toml.replace("[ssh]\n", "[ssh]\nhost_keys = \"accept-new\"\n"));
    p.haul(&["unlock", "app", "prod", "--reason", "test"]).ok();
    p.haul(&["deploy", "app", "prod"]).ok();
    assert_eq!(std::fs::read_to_string(&known).unwrap().lines().count(), 2, "accept-new recorded both keys");
}

#[test]
fn one_changed_file_of_five_thousand_sends_that_file_and_little_else() {
    let (fleet, p) = setup(2, false, "", "");
    for d in 0..50 {
        for f in 0..100 {
            p.write(&format!("src/d{d:02}/f{f:03}.txt"), &format!("file {d} {f}\n").repeat(8));
        }
    }
    deploy(&p);
    let changed = "x".repeat(20_000);
    p.write("src/d17/f042.txt", &changed);
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok().report();
    for h in out["hosts"].as_array().unwrap() {
        let s = &h["stage"];
        assert_eq!(s["sent_files"], 1, "{h}");
        assert_eq!(s["reused_files"], 5001);
        let sent = s["stream_bytes"].as_u64().unwrap();
        assert!(sent <= 20_000 + 64 * 1024, "{sent} bytes sent for a 20,000-byte change");
    }
    assert_eq!(std::fs::read_to_string(on(&fleet, 1, "/srv/app/current/d17/f042.txt")).unwrap(), changed);
}

#[test]
fn a_large_file_that_changed_a_little_goes_with_rsync_and_the_old_release_stays_intact() {
    let (fleet, p) = setup(2, false, "", "");
    // 4 MiB of text that compresses poorly in deltas but is easy to tweak.
    let big: String = (0..65536).map(|i| format!("line {i:08} of a big bundle.{}\n", i % 7)).collect();
    p.write("src/app.bundle.js", &big);
    let file = p.path().join("src/app.bundle.js");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let v1 = deploy(&p);
    let mut changed = big.clone();
    changed.replace_range(1000..1010, "CHANGED!!!");
    p.write("src/app.bundle.js", &changed);
    // Same size and same time: rsync's quick check alone would skip it.
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok().report();
    for h in out["hosts"].as_array().unwrap() {
        let s = &h["stage"];
        assert_eq!(s["rsync_files"], 1, "{h}");
        let sent = s["stream_bytes"].as_u64().unwrap();
        assert!(sent < big.len() as u64 / 10, "rsync sent {sent} bytes for a 10-byte change");
    }
    for i in 0..2 {
        let now = std::fs::read_to_string(on(&fleet, i, "/srv/app/current/app.bundle.js")).unwrap();
        assert!(now == changed, "h{}: the new release has the changed file", i + 1);
        let old = std::fs::read_to_string(on(&fleet, i, &format!("/srv/app/releases/{v1}/app.bundle.js"))).unwrap();
        assert!(old == big, "h{}: the old release is intact", i + 1);
    }
}

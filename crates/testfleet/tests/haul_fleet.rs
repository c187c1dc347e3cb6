//! The `haul-fleet` binary as people use it: `up` must hand the terminal
//! back, and `down` must end the fleet's own processes and nothing else,
//! even when part of the fleet is already gone. Needs root, as CI runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn haul_fleet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul-fleet"));
    c.stdin(Stdio::null());
    c
}

/// A port free on the fleet's first addresses.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `haul-fleet up <n>` piped into `cat`, as `up 3 | tail` would be; fails
/// the test if the pipeline does not end.
fn up_piped(dir: &Path, n: usize, port: u16) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} up {n} --dir {} --port {port} | cat >/dev/null",
            env!("CARGO_BIN_EXE_haul-fleet"),
            dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "haul-fleet up failed");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = haul_fleet().arg("down").arg("--dir").arg(dir).status();
            panic!("`haul-fleet up | cat` did not end: the hosts hold the pipe");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everything the caller gave haul-fleet is closed once the pipeline ends.
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("fleet of {n} hosts is up")));
}

/// The recorded holders: (pid, start time, address, port).
fn recorded(dir: &Path) -> Vec<(u32, String, String, u16)> {
    std::fs::read_to_string(dir.join("fleet.pids"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].parse().unwrap(), f[1].to_string(), f[2].to_string(), f[3].parse().unwrap())
        })
        .collect()
}

fn listening(addr: &str, port: u16) -> bool {
    std::net::TcpStream::connect((addr, port)).is_ok()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn up_piped_into_another_command_returns() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    up_piped(dir.path(), 2, port);
    let hosts = recorded(dir.path());
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|(_, _, a, p)| listening(a, *p)));
    let st = haul_fleet().arg("down").arg("--dir").arg(dir.path()).status().unwrap();
    assert!(st.success());
    assert!(hosts.iter().all(|(_, _, a, p)| !listening(a, *p)), "every host is down");
}

#[test]
fn down_after_a_holder_died_kills_no_process_that_is_not_the_fleets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    up_piped(dir.path(), 2, port);
    let hosts = recorded(dir.path());
    let (h1, _, a1, p1) = hosts[0].clone();
    let (h2, _, a2, p2) = hosts[1].clone();

    // h1's holder dies on its own: its whole host goes with it.
    assert!(Command::new("kill").args(["-9", &h1.to_string()]).status().unwrap().success());
    wait_until("h1 goes down with its holder", || !listening(&a1, p1));

    // A process that is not the fleet's gets h1's old pid (simulated: the
    // record now names it, with the start time the holder had).
    let mut bystander = Command::new("sleep").arg("300").stdin(Stdio::null()).spawn().unwrap();
    let text = std::fs::read_to_string(dir.path().join("fleet.pids")).unwrap();
    let text = text.replacen(&format!("{h1} "), &format!("{} ", bystander.id()), 1);
    std::fs::write(dir.path().join("fleet.pids"), text).unwrap();

    let out = haul_fleet().arg("down").arg("--dir").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(1 hosts stopped)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alive = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(alive, "down killed a process that is not the fleet's");
    // The host whose holder still ran is down, holder and all.
    assert!(!listening(&a2, p2));
    wait_until("h2's holder is gone", || !running(h2));
}

/// Whether `pid` runs (exists and is not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')))
        .unwrap_or(false)
}

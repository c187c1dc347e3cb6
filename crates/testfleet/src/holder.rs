//! The holders of a fleet's hosts: starting them, telling them from any
//! later process with the same pid, and ending them.
//!
//! A host's holder owns its namespaces; every other process of the host
//! lives in its pid namespace and dies with it. So the fleet only ever
//! kills holders it started, checked by pid and start time, and the
//! processes of a live holder's own namespace.

use crate::{Fleet, FleetHost};
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command for a process of the fleet. A persistent fleet's processes
/// start their own session (`setsid`), so neither a Ctrl-C nor the end of
/// the terminal that started them reaches them; their stdio is always
/// `/dev/null` or a file, never the caller's.
pub(crate) fn detached(program: &str, persist: bool) -> Command {
    if persist {
        let mut c = Command::new("setsid");
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A process that holds a fresh mount namespace (private tmpfs over `/srv`
/// and `/root`) and a fresh pid namespace whose first process it starts
/// and sleeps in. When the holder dies, so does that first process
/// (`--kill-child`) and with it, by the kernel's rule, every process of the
/// host: nothing of a host outlives its holder. `srv_size` limits `/srv`
/// (`"2m"`). Returns the holder's pid and start time once the mounts exist.
pub(crate) fn spawn_holder(dir: &Path, persist: bool, srv_size: Option<&str>) -> io::Result<(u32, u64)> {
    let size = match srv_size {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) => format!(",size={s}"),
        Some(s) => return Err(io::Error::other(format!("srv_size {s:?}: a tmpfs size like \"2m\""))),
        None => String::new(),
    };
    let mut cmd = detached("unshare", persist);
    cmd.args(["--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "--"])
        .args(["sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o mode=755{size} tmpfs /srv && mount -t tmpfs -o mode=700 tmpfs /root && \
             while :; do sleep 3600 & wait; done"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("holder.log"))?);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        if mounts.lines().any(|l| l.contains(" /root ") && l.contains("tmpfs")) {
            let start = start_time(pid).ok_or_else(|| io::Error::other("the namespace holder vanished"))?;
            std::thread::spawn(move || child.wait());
            return Ok((pid, start));
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("holder.log")).unwrap_or_default();
            return Err(io::Error::other(format!("the namespace holder exited: {status}: {}", log.trim())));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the namespace holder did not set up its mounts"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Field `n` (1-based, as in proc(5)) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n.checked_sub(3)?).map(str::to_string)
}

/// When process `pid` started (clock ticks after boot), if it runs.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

/// Kills every process of the host but its holder and the holder's first
/// process; with `holder`, kills the holder (and so the whole host). Only
/// a holder that is still the recorded process is touched: a holder that is
/// gone took its host with it.
pub(crate) fn kill_namespace(h: &FleetHost, holder: bool) {
    if !h.holder_alive() {
        return;
    }
    if holder {
        let _ = Command::new("kill").args(["-9", &h.holder.to_string()]).status();
    } else if let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid_for_children", h.holder)) {
        for pid in std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        {
            let in_host = std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns);
            let first = stat_field(pid, 4).is_some_and(|ppid| ppid == h.holder.to_string());
            if in_host && !first && h.holder_alive() {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
    // Wait until the listener is gone, so "down" means down.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect((h.address.as_str(), h.port)).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The file in a fleet's directory that records its holders.
const PIDS: &str = "fleet.pids";

impl Fleet {
    /// Records every host's holder (pid, start time, address, port) in
    /// `fleet.pids`, for [`stop_recorded`].
    pub fn record(&self) -> io::Result<()> {
        let lines: String = self
            .all()
            .iter()
            .map(|h| format!("{} {} {} {} {}\n", h.holder, h.holder_start, h.address, h.port, h.name))
            .collect();
        std::fs::write(self.dir.join(PIDS), lines)
    }
}

/// Stops the fleet recorded in `dir`: kills each recorded holder that is
/// still the process it was (same pid and start time), which ends its host;
/// a holder that is gone is skipped. Returns how many hosts were stopped.
pub fn stop_recorded(dir: &Path) -> io::Result<usize> {
    let path = dir.join(PIDS);
    let text = std::fs::read_to_string(&path)?;
    let mut stopped = 0;
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(holder), Some(start), Some(address), Some(port)) = (
            f.first().and_then(|p| p.parse().ok()),
            f.get(1).and_then(|s| s.parse().ok()),
            f.get(2),
            f.get(3).and_then(|p| p.parse().ok()),
        ) else {
            return Err(io::Error::other(format!(
                "{}:{}: expected `pid start-time address port name`",
                path.display(),
                i + 1
            )));
        };
        let h = FleetHost {
            name: f.get(4).unwrap_or(&"").to_string(),
            address: address.to_string(),
            port,
            holder,
            holder_start: start,
            dir: dir.to_path_buf(),
        };
        if h.holder_alive() {
            kill_namespace(&h, true);
            stopped += 1;
        }
    }
    std::fs::remove_file(&path)?;
    Ok(stopped)
}

//! Where masters live and how they end: a private per-user directory, short
//! stable control paths in it, and asking masters to exit.
//!
//! Kept apart from the pool because these rules are about the machine (who
//! may enter the directory, how long a socket path may be), not the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// This user's private directory for masters, created 0700 and refused if
/// anyone else owns it or can enter it.
pub(crate) fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = std::fs::metadata("/proc/self")?.uid();
    let dir = PathBuf::from(format!("/tmp/haul-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let m = std::fs::symlink_metadata(&dir)?;
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a directory private to this user; remove it",
            dir.display()
        )));
    }
    Ok(dir)
}

/// A short, stable socket path for `alias` under `key`.
pub(crate) fn control_path(dir: &Path, key: &str, alias: &str) -> PathBuf {
    let h = blake3::hash(format!("{key}/{alias}").as_bytes()).to_hex();
    dir.join(&h[..16])
}

/// The process of one master, learnt from the socket a pool holds to it.
#[derive(Debug, Clone)]
pub(crate) struct Master {
    pid: i32,
    ctl: PathBuf,
}

impl Master {
    /// The master at the far end of `held`, a connection to its control
    /// socket `ctl`; `None` where the kernel does not say.
    pub(crate) fn behind(held: &std::os::unix::net::UnixStream, ctl: &Path) -> Option<Master> {
        let cred = rustix::net::sockopt::socket_peercred(held).ok()?;
        Some(Master { pid: cred.pid.as_raw_nonzero().get(), ctl: ctl.to_path_buf() })
    }

    /// Whether the process is still this master: alive (a zombie has no
    /// command line) and started with this control path, so a reused pid
    /// is not mistaken for it.
    fn running(&self) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", self.pid)) else {
            return false;
        };
        let ctl = self.ctl.as_os_str().as_encoded_bytes();
        cmdline.split(|&b| b == 0).any(|a| a == ctl)
    }
}

/// Asks the masters at `sockets` to exit and waits (a few seconds at most)
/// until they have: their sockets gone and, of `masters`, those at these
/// sockets no longer running. A master removes its socket before it has
/// said goodbye to the server and ended; a run that closes its masters
/// leaves none behind it.
pub(crate) fn stop_masters(sockets: &[PathBuf], masters: &[Master]) {
    let children: Vec<_> = sockets
        .iter()
        .filter_map(|s| {
            std::process::Command::new("ssh")
                .arg("-S")
                .arg(s)
                .args(["-O", "exit", "haul"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    for mut c in children {
        let _ = c.wait();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let ours: Vec<&Master> = masters.iter().filter(|m| sockets.contains(&m.ctl)).collect();
    while (sockets.iter().any(|s| s.exists()) || ours.iter().any(|m| m.running()))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

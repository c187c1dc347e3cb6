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

/// Asks the masters at `sockets` to exit and waits (a few seconds at most)
/// until they have: a master removes its socket as it goes.
pub(crate) fn stop_masters(sockets: &[PathBuf]) {
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
    while sockets.iter().any(|s| s.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

//! A real S3 server that does *not* honour conditional writes: npm's
//! `s3rver` ignores `If-None-Match`, so a second create of a key silently
//! replaces the first. The store's start-up check must refuse it; this is
//! the server that proves it does. `scripts/test.sh` installs s3rver from
//! npm into `target/`; `HAUL_S3RVER` names it, or `s3rver` is on `PATH`.

use crate::{BUCKET, http_status};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running s3rver with [`BUCKET`].
pub struct OverwritingS3 {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OverwritingS3 {
    /// Starts s3rver on a free loopback port with [`BUCKET`] and waits
    /// until it answers. Panics, saying how to get it, if it cannot.
    pub fn start() -> OverwritingS3 {
        let program = std::env::var("HAUL_S3RVER").unwrap_or_else(|_| "s3rver".into());
        let dir = tempfile::tempdir().expect("a scratch directory");
        let port = crate::free_port();
        let child = Command::new(&program)
            .arg("-d")
            .arg(dir.path())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-s", "--configure-bucket", BUCKET])
            .arg("--allow-mismatched-signatures")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}): this test needs npm's s3rver (scripts/test.sh installs it; or set HAUL_S3RVER)")
            });
        let mut server = OverwritingS3 { child, port, _dir: dir };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{program} exited with {status}");
            }
            if http_status(port, "GET", &format!("/{BUCKET}"), b"").is_ok_and(|s| s.starts_with("HTTP/1.1 200")) {
                return server;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{program} did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{}", prefix.trim_matches('/'))
    }

    /// s3rver's own fixed test credentials.
    pub fn env(&self) -> Vec<(String, String)> {
        crate::client_env("S3RVER", "S3RVER", &self.endpoint())
    }
}

impl Drop for OverwritingS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

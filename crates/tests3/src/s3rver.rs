//! A real S3 server that does *not* honour conditional writes: npm's
//! `s3rver` ignores `If-None-Match`, so a second create of a key silently
//! replaces the first. The store's start-up check must refuse it; this is
//! the server that proves it does. `scripts/test.sh` installs s3rver from
//! npm into `target/`; `HAUL_S3RVER` names it, or `s3rver` is on `PATH`.

use crate::tied::Tied;
use crate::{BUCKET, http_status};
use std::time::{Duration, Instant};

/// A running s3rver with [`BUCKET`].
pub struct OverwritingS3 {
    child: Tied,
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
        let data = dir.path().to_str().expect("a UTF-8 scratch path");
        let port_s = port.to_string();
        let args = [
            "-d",
            data,
            "-a",
            "127.0.0.1",
            "-p",
            &port_s,
            "-s",
            "--configure-bucket",
            BUCKET,
            "--allow-mismatched-signatures",
        ];
        let child = Tied::spawn(&program, &args).unwrap_or_else(|e| panic!("cannot run sh to start {program}: {e}"));
        let mut server = OverwritingS3 { child, port, _dir: dir };
        let start = Instant::now();
        loop {
            if let Some(status) = server.child.exited() {
                assert!(
                    !Tied::not_found(status),
                    "cannot run {program}: this test needs npm's s3rver (scripts/test.sh installs it; or set HAUL_S3RVER)"
                );
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

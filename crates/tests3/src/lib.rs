//! A real S3-protocol server on loopback for tests: moto's server mode
//! (`moto_server`, from PyPI; `scripts/test.sh` installs it into a venv and
//! names it in `HAUL_MOTO`, else it is looked up on `PATH`). It speaks the S3 wire
//! protocol with SigV4 and honours conditional writes (`If-None-Match: *`
//! on PutObject and CompleteMultipartUpload), so a store test against it
//! runs the same requests a real bucket gets.
//!
//! Each [`S3Server`] is its own process on a free port with one bucket; it
//! is killed (only it) when dropped or when its test dies ([`tied`]).

mod s3rver;
mod tied;

pub use s3rver::OverwritingS3;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tied::Tied;

/// The bucket every server starts with.
pub const BUCKET: &str = "haul-test";

/// A running moto server.
pub struct S3Server {
    child: Tied,
    port: u16,
}

impl S3Server {
    /// Starts moto on a free loopback port, waits until it answers and
    /// creates [`BUCKET`]. Panics, saying how to get moto, if it cannot.
    pub fn start() -> S3Server {
        let program = std::env::var("HAUL_MOTO").unwrap_or_else(|_| "moto_server".into());
        let mut last = None;
        // A port found free can be taken before moto binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let child = Tied::spawn(&program, &["-H", "127.0.0.1", "-p", &port.to_string()])
                .unwrap_or_else(|e| panic!("cannot run sh to start {program}: {e}"));
            let mut server = S3Server { child, port };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => {
                    let status = server.request("PUT", &format!("/{BUCKET}"), b"").expect("create the bucket");
                    assert!(status.starts_with("HTTP/1.1 200"), "creating bucket {BUCKET}: {status}");
                    return server;
                }
                Err(e) => last = Some(e),
            }
        }
        panic!("{program} did not answer on loopback: {}", last.unwrap_or_default())
    }

    /// The server's address, e.g. `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The store URL for `prefix` in the bucket, e.g. `s3://haul-test/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{}", prefix.trim_matches('/'))
    }

    /// The environment a client needs (moto accepts any key; these are
    /// fixed so no real credentials are ever used by a test).
    pub fn env(&self) -> Vec<(String, String)> {
        client_env("haul-test-key", "haul-test-secret", &self.endpoint())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.exited() {
                assert!(
                    !Tied::not_found(status),
                    "cannot run moto_server: the S3 tests need moto's server (scripts/test.sh installs it; or set HAUL_MOTO)"
                );
                return Err(format!("moto exited with {status}"));
            }
            if let Ok(line) = self.request("GET", "/moto-api/", b"")
                && line.starts_with("HTTP/1.1 ")
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(format!("no answer within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<String> {
        http_status(self.port, method, path, body)
    }
}

/// The variables an S3 client reads, for a server on loopback.
fn client_env(key: &str, secret: &str, endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// One plain HTTP/1.1 request to loopback `port`; returns the status line.
fn http_status(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

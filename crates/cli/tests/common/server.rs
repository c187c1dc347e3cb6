//! A running `haul server` for the tests that record through one, and the
//! `[[server.tokens]]` entries that let a test in.

use super::Project;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

/// `haul server` on a free loopback port of its own choosing, read from the
/// first line it logs; killed when dropped, even on a failed test.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The first line it logged, naming where it listens.
    pub listening: String,
    stderr: BufReader<ChildStderr>,
}

impl Server {
    pub fn start(p: &Project) -> Server {
        Server::start_with(p, &[])
    }

    /// Starts with `env` added to the server's environment.
    pub fn start_with(p: &Project, env: &[(&str, &str)]) -> Server {
        Server::start_on(p, 0, env)
    }

    /// Starts on `port` (0: one the system chooses), with `env` added.
    pub fn start_on(p: &Project, port: u16, env: &[(&str, &str)]) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut child = p.command(&["server", "--listen", &listen], env).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        Server { child, port, listening: line, stderr }
    }

    /// Where it listens.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A `[ledger]` table that records through this server.
    pub fn ledger(&self) -> String {
        format!("[ledger]\nurl = \"{}\"\n", self.url())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM; asserts the server stops cleanly and returns the rest of its
    /// log.
    pub fn stop(self) -> String {
        self.stop_within(Duration::from_secs(60))
    }

    /// [`Server::stop`], asserting it has exited within `limit`.
    pub fn stop_within(mut self, limit: Duration) -> String {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "haul server did not stop within {limit:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "haul server stopped with {status}");
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hex SHA-256 of `s`: how a token is listed in `[[server.tokens]]`.
pub fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A `[[server.tokens]]` entry named `name` for the secret `secret` with
/// `scopes`.
pub fn token(name: &str, secret: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[[server.tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nscopes = [{}]\n\n",
        sha256(secret),
        scopes.join(", ")
    )
}

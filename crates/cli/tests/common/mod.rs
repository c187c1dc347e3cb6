//! The fixtures every CLI integration test shares, so that each test file
//! holds only its cases: a builder for running the real `haul` binary against
//! a project in a temporary directory (local hosts under `.haul/hosts/`), the
//! configs most tests start from, and beside it an HTTP client ([`http`]), a
//! running `haul server` ([`server`]), polling ([`wait`]), test certificates
//! ([`tls`]) and filters for snapshots ([`scrub`]).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod browser;
pub mod fleet;
pub mod http;
pub mod pull;
pub mod scrub;
pub mod server;
pub mod tls;
pub mod wait;

pub use server::{Server, sha256, token};
pub use wait::{wait_for, wait_until};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Project {
    pub dir: tempfile::TempDir,
}

/// The result of one `haul` invocation.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Out {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// The report that ends a `deploy`/`rollback --json` event stream.
    #[track_caller]
    pub fn report(&self) -> serde_json::Value {
        assert!(!self.stdout.is_empty(), "no output:\n{}", self.stderr);
        report(&self.stdout)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// The report that ends the `--json` event stream `stdout`.
#[track_caller]
pub fn report(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no report in {stdout:?}"));
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"));
    assert_eq!(v["event"], "report", "{last}");
    v
}

/// A config with app `app` (shipping `src/`) on local hosts `a` and `b` in
/// environment `test`. `app_extra` is appended to `[apps.app]`; `rest` after.
pub fn config(app_extra: &str, rest: &str) -> String {
    format!(
        r#"[apps.app]
ship = "src"
{app_extra}

[environments.test]
hosts = ["a", "b"]

[hosts.a]
transport = "local"
root = ".haul/hosts/a"
roles = ["web", "db"]

[hosts.b]
transport = "local"
root = ".haul/hosts/b"
roles = ["web"]
{rest}
"#
    )
}

impl Project {
    pub fn new(toml: &str) -> Project {
        let p = Project { dir: tempfile::tempdir().expect("temp dir") };
        p.write("haul.toml", toml);
        p.write("src/index.html", "<h1>v1</h1>\n");
        p.write("src/assets/app.css", "body {}\n");
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Project {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
        self
    }

    /// The app's directory on local host `h`.
    pub fn host(&self, h: &str) -> PathBuf {
        self.path().join(".haul/hosts").join(h).join("app")
    }

    /// The release `current` points to on host `h`.
    pub fn live(&self, h: &str) -> Option<String> {
        let link = std::fs::read_link(self.host(h).join("current")).ok()?;
        Some(link.strip_prefix("releases").ok()?.display().to_string())
    }

    pub fn releases(&self, h: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.host(h).join("releases"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn haul(&self, args: &[&str]) -> Out {
        self.haul_env(args, &[])
    }

    pub fn haul_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let out = self.command(args, env).output().expect("haul runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
        c.current_dir(self.path())
            .args(args)
            .env_remove("HAUL_CONFIG")
            // The test servers' programs (scripts/test.sh exports them) are
            // the tests' business, not haul's or its steps'.
            .env_remove("HAUL_MOTO")
            .env_remove("HAUL_S3RVER")
            .env("HAUL_ACTOR", "tester")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Starts `haul <args>` in the background with its output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("haul starts")
    }

    /// Deploys and returns the new live release id (the same on every host).
    #[track_caller]
    pub fn deploy(&self) -> String {
        let out = self.haul(&["deploy", "app", "test", "--json"]).ok();
        out.report()["release"].as_str().expect("release id").to_string()
    }

    /// Replaces `[DIR]` for the project path in `s`.
    pub fn scrub(&self, s: &str) -> String {
        s.replace(&self.path().display().to_string(), "[DIR]")
    }
}

/// Every file under `dir` with its bytes and mode, for byte-for-byte
/// comparisons.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable") {
            let e = e.expect("entry");
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            let rel = p.strip_prefix(dir).expect("below").display().to_string();
            if meta.is_dir() {
                stack.push(p);
                out.push((rel, vec![], meta.permissions().mode()));
            } else if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).expect("link");
                out.push((rel, t.display().to_string().into_bytes(), 0));
            } else {
                out.push((rel, std::fs::read(&p).expect("read"), meta.permissions().mode()));
            }
        }
    }
    out.sort();
    out
}

/// App `app` (shipping `src/`) on four local hosts `a` to `d` with role
/// `web`, in environment `test`; `app_extra` is appended to `[apps.app]`,
/// `env_extra` to `[environments.test]`.
pub fn four_hosts(app_extra: &str, env_extra: &str) -> String {
    let mut t = format!(
        "[apps.app]\nship = \"src\"\n{app_extra}\n\n[environments.test]\nhosts = [\"a\", \"b\", \"c\", \"d\"]\n{env_extra}\n"
    );
    for h in ["a", "b", "c", "d"] {
        t.push_str(&format!("\n[hosts.{h}]\ntransport = \"local\"\nroot = \".haul/hosts/{h}\"\nroles = [\"web\"]\n"));
    }
    t
}

/// A pipeline: app `app` built in `staging` on host a, promoted to `prod`
/// on host b; `extra` follows `[environments.prod]` (its `requires`, and
/// any other tables).
pub fn pipeline(extra: &str) -> String {
    format!(
        r#"[apps.app]
ship = "src"

[environments.staging]
hosts = ["a"]

[environments.prod]
hosts = ["b"]
code = "staging"
{extra}

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"
"#
    )
}

/// Staging builds on hosts a and b; prod takes staging's releases on host c
/// once `smoke` passed there and one person approved; `tokens` follow (the
/// dashboard tests' `[[server.tokens]]`).
pub fn staged_pipeline(tokens: &str) -> String {
    format!(
        r#"[apps.app]
ship = "src"

[environments.staging]
hosts = ["a", "b"]

[environments.prod]
hosts = ["c"]
code = "staging"

[environments.prod.requires]
verifications = ["smoke"]
approvals = 1

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"

[hosts.c]
transport = "local"
root = ".haul/hosts/c"

{tokens}"#
    )
}

/// A child process killed (and reaped) when dropped, even on a failed test.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

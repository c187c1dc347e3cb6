//! A small builder for running the real `haul` binary against a project in a
//! temporary directory, with local hosts under `.haul/hosts/`.
#![allow(dead_code)]

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
    pub fn report(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_else(|| panic!("no output:\n{}", self.stderr));
        let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"));
        assert_eq!(v["event"], "report", "{last}");
        v
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
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

/// Makes, in `dir`, a test CA (`ca.pem`), a certificate for 127.0.0.1 it
/// signed (`srv.pem`, key `srv.key`) and an unrelated CA (`other-ca.pem`),
/// with the `openssl` command.
pub fn test_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).stdin(Stdio::null()).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ca = |key: &str, pem: &str, name: &str| {
        let subj = format!("/CN={name}");
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem, "-days", "2", "-subj", &subj,
        ]);
    };
    ca("ca.key", "ca.pem", "haul test CA");
    ca("other.key", "other-ca.pem", "another CA");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("write");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
}

/// A child process killed (and reaped) when dropped, even on a failed test.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Hex SHA-256 of `s`: how a token is listed in `[[server.tokens]]`.
pub fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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

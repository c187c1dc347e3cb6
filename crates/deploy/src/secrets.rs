//! Reading secret values on the machine running haul, from the sources
//! `haul.toml` names (`haul_config::Secret`), and writing them to hosts.
//!
//! Every value is read before any host is locked, so a source that fails
//! stops a deploy before anything changes. A value lives in memory only (a
//! [`SecretValue`], wiped when dropped, shown by `Debug` as its size) and
//! leaves this process only on the host script's standard input. No error
//! of this module holds a value or a source command's error output, which
//! could hold one (a decrypting tool may echo what it could not parse); an
//! error says which secret, which environment and what failed.

use haul_config::{Config, Secret, SecretSource};
use haul_host::{HostApp, HostError, SecretFile};
use std::fmt;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

/// The largest value a secret may have: more is a mistake (a source that
/// printed a whole directory), not a secret.
pub const MAX_SECRET_BYTES: usize = 1024 * 1024;

/// How long a source command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// One secret file's value, read for one environment.
pub struct SecretValue {
    pub secret: Secret,
    bytes: Zeroizing<Vec<u8>>,
}

impl SecretValue {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The keyed digest the ledger keeps of this value on a host (see
    /// `haul_ledger::secrets`): blake3 keyed with `key`, over the app, the
    /// environment and the path as well as the value, so equal values in two
    /// places do not show as equal digests.
    pub fn digest(&self, key: &[u8; 32], app: &str, env: &str) -> String {
        let mut h = blake3::Hasher::new_keyed(key);
        for part in [app.as_bytes(), env.as_bytes(), self.secret.path.as_bytes()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&self.bytes);
        h.finalize().to_hex().to_string()
    }

    /// Writes the value to `shared/<path>` on `host`, for the run whose
    /// lock token is `token` (nothing is written once it no longer holds
    /// the host's lock).
    pub async fn write(&self, host: &HostApp, token: &str) -> Result<(), HostError> {
        let file = SecretFile {
            path: &self.secret.path,
            mode: self.secret.mode,
            owner: self.secret.owner.as_deref(),
            group: self.secret.group.as_deref(),
        };
        host.write_secret(&file, self.bytes.to_vec(), token).await
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({}, {} bytes)", self.secret.path, self.bytes.len())
    }
}

/// A secret whose value could not be read; says which and why, never the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret file `{path}` of app `{app}` in environment `{env}`: {why}")]
pub struct SecretError {
    pub app: String,
    pub env: String,
    pub path: String,
    pub why: String,
}

/// Reads the value of every secret file of `app` in `env`, in path order;
/// the first that fails stops the rest.
pub async fn read_all(config: &Config, app: &str, env: &str) -> Result<Vec<SecretValue>, SecretError> {
    let mut out = Vec::new();
    for secret in config.secrets(app, env) {
        let fail = |why: String| SecretError { app: app.into(), env: env.into(), path: secret.path.clone(), why };
        let bytes = read(&config.dir, &secret.source).await.map_err(fail)?;
        if bytes.is_empty() {
            return Err(fail(format!(
                "{} gave an empty value (haul never writes an empty secret)",
                describe(&secret.source)
            )));
        }
        out.push(SecretValue { secret, bytes });
    }
    Ok(out)
}

/// How a source is named in messages (a command by its program: its
/// arguments are in `haul.toml` for anyone who needs them).
fn describe(source: &SecretSource) -> String {
    match source {
        SecretSource::File(f) => format!("file `{f}`"),
        SecretSource::Env(v) => format!("environment variable `{v}`"),
        SecretSource::Command(argv) => format!("command `{}`", argv[0]),
    }
}

async fn read(dir: &Path, source: &SecretSource) -> Result<Zeroizing<Vec<u8>>, String> {
    let too_big =
        || format!("{} gave more than {} bytes, the most a secret may have", describe(source), MAX_SECRET_BYTES);
    match source {
        SecretSource::File(f) => {
            let path = dir.join(f);
            // Judged before it is opened: opening a FIFO would wait for a
            // writer.
            let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read file `{}`: {e}", path.display()))?;
            if !meta.is_file() {
                return Err(format!("`{}` is not a plain file", path.display()));
            }
            let file = std::fs::File::open(&path).map_err(|e| format!("cannot read file `{}`: {e}", path.display()))?;
            let mut bytes = Zeroizing::new(Vec::new());
            std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_SECRET_BYTES as u64 + 1), &mut bytes)
                .map_err(|e| format!("cannot read file `{}`: {e}", path.display()))?;
            if bytes.len() > MAX_SECRET_BYTES {
                return Err(too_big());
            }
            Ok(bytes)
        }
        SecretSource::Env(v) => {
            use std::os::unix::ffi::OsStrExt;
            let value = std::env::var_os(v).ok_or_else(|| format!("environment variable `{v}` is not set"))?;
            if value.len() > MAX_SECRET_BYTES {
                return Err(too_big());
            }
            Ok(Zeroizing::new(value.as_bytes().to_vec()))
        }
        SecretSource::Command(argv) => run(dir, argv).await.map_err(|why| format!("command `{}` {why}", argv[0])),
    }
}

/// Runs a source command in `dir` with no standard input; its standard
/// output is the value. Its error output is counted, not kept: it may hold
/// the secret.
async fn run(dir: &Path, argv: &[String]) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not be started: {e}"))?;
    let (mut stdout, mut stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let work = async {
        let mut bytes = Zeroizing::new(Vec::new());
        let out = async {
            (&mut stdout).take(MAX_SECRET_BYTES as u64 + 1).read_to_end(&mut bytes).await?;
            // Drain the rest, so a command that prints too much is told by
            // its size, not stopped by a closed pipe.
            tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await
        };
        let mut drain = tokio::io::sink();
        let err = tokio::io::copy(&mut stderr, &mut drain);
        let (o, e) = tokio::join!(out, err);
        let status = child.wait().await;
        (bytes, o, e, status)
    };
    let (bytes, o, e, status) = tokio::time::timeout(COMMAND_TIMEOUT, work)
        .await
        .map_err(|_| format!("did not finish within {} seconds and was stopped", COMMAND_TIMEOUT.as_secs()))?;
    let extra = o.map_err(|e| format!("output could not be read: {e}"))?;
    let err_bytes = e.unwrap_or(0);
    let status = status.map_err(|e| format!("could not be waited for: {e}"))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "an unknown status".into(),
        };
        let hint = if err_bytes > 0 {
            format!(
                "; its error output ({err_bytes} bytes) is not shown, as it may hold the secret: run the command from `haul.toml` yourself to see it"
            )
        } else {
            String::new()
        };
        return Err(format!("failed with {how}{hint}"));
    }
    if bytes.len() > MAX_SECRET_BYTES || extra > 0 {
        return Err(format!("gave more than {MAX_SECRET_BYTES} bytes, the most a secret may have"));
    }
    Ok(bytes)
}

impl crate::Engine {
    /// `haul secrets push`: reads every secret of `app` in `env`, then,
    /// with the app locked on every host (all of `env`'s, or `only`),
    /// writes them; nothing else changes. Returns the paths written per
    /// host, each with its keyed digest when the engine has a key.
    pub async fn push_secrets(
        &self,
        app: &str,
        env: &str,
        only: &[String],
    ) -> Result<Vec<(haul_config::HostTarget, Vec<(String, Option<String>)>)>, crate::DeployError> {
        let values = read_all(&self.config, app, env).await?;
        if values.is_empty() {
            return Err(crate::DeployError::Refused(format!(
                "app `{app}` has no secret files in environment `{env}` (see `[apps.{app}.secrets]`)"
            )));
        }
        let values = &values;
        self.locked(app, env, only, "secrets push", |host, _, token| async move {
            for v in values {
                v.write(&host, &token).await?;
            }
            Ok(values
                .iter()
                .map(|v| (v.secret.path.clone(), self.secret_key.map(|k| v.digest(&k, app, env))))
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(path: &str, bytes: &[u8]) -> SecretValue {
        let secret =
            Secret { path: path.into(), source: SecretSource::Env("X".into()), mode: 0o600, owner: None, group: None };
        SecretValue { secret, bytes: Zeroizing::new(bytes.to_vec()) }
    }

    #[test]
    fn a_digest_depends_on_the_key_and_the_place_and_is_not_the_plain_hash() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let v = value(".env", b"hunter2");
        let d = v.digest(&k1, "web", "prod");
        assert_eq!(d, v.digest(&k1, "web", "prod"));
        assert_ne!(d, v.digest(&k2, "web", "prod"), "another key");
        assert_ne!(d, v.digest(&k1, "web", "staging"), "another environment");
        assert_ne!(d, value("other", b"hunter2").digest(&k1, "web", "prod"), "another file");
        assert_ne!(d, blake3::hash(b"hunter2").to_hex().to_string());
        // The parts are framed by their lengths: moving a byte between them
        // is another digest.
        assert_ne!(value("ab", b"c").digest(&k1, "w", "p"), value("a", b"bc").digest(&k1, "w", "p"));
        assert_eq!(format!("{v:?}"), "SecretValue(.env, 7 bytes)", "Debug never shows the value");
    }

    #[tokio::test]
    async fn sources_give_their_bytes_and_failures_never_show_a_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"a\nb\0\xff").unwrap();
        assert_eq!(&*read(dir.path(), &SecretSource::File("f".into())).await.unwrap(), b"a\nb\0\xff");
        let big = vec![b'x'; MAX_SECRET_BYTES + 1];
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let err = read(dir.path(), &SecretSource::File("big".into())).await.unwrap_err();
        assert!(err.contains("more than 1048576 bytes"), "{err}");
        let cmd = |s: &str| SecretSource::Command(vec!["sh".into(), "-c".into(), s.into()]);
        let err = read(dir.path(), &cmd("head -c 1048577 /dev/zero")).await.unwrap_err();
        assert!(err.contains("more than 1048576 bytes"), "{err}");
        let err = read(dir.path(), &cmd("printf 'pw-Zt5' >&2; kill -9 $$")).await.unwrap_err();
        assert!(err.contains("killed by signal 9") && !err.contains("pw-Zt5"), "{err}");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = read(dir.path(), &SecretSource::File("fifo".into())).await.unwrap_err();
        assert!(err.contains("is not a plain file"), "{err}");
        let err = read(dir.path(), &SecretSource::Command(vec!["/no/such/tool".into()])).await.unwrap_err();
        assert!(err.contains("could not be started"), "{err}");
        assert_eq!(&*read(dir.path(), &cmd("cat f")).await.unwrap(), b"a\nb\0\xff", "runs in haul.toml's directory");
    }
}

//! ed25519 key files: `haul key new NAME` writes `NAME.key` (secret, mode
//! 0600) and `NAME.pub`; agents trust `.pub` files.
//!
//! ```text
//! NAME.key   haul-ed25519-secret <base64 of the 32-byte seed>
//! NAME.pub   haul-ed25519 <base64 of the 32-byte public key> NAME
//! ```
//!
//! Reading is strict, like ssh's: a secret readable by group or others, a
//! wrong prefix, bad base64, a wrong length or a weak (small-order) public
//! key is refused, naming the file. Secrets are zeroized when dropped.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use zeroize::Zeroizing;

const SECRET_PREFIX: &str = "haul-ed25519-secret";
const PUBLIC_PREFIX: &str = "haul-ed25519";
/// Key files are one short line; anything longer is not one.
const MAX_KEY_FILE: u64 = 4096;

/// A key's short name in signatures: blake3 of the public key, first 16 hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signing key, read from a `.key` file. The seed is wiped on drop
/// (`ed25519_dalek`'s `zeroize`).
pub struct SecretKey {
    pub name: String,
    pub(crate) key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("name", &self.name).field("id", &self.public().id()).finish_non_exhaustive()
    }
}

/// A key agents trust, read from a `.pub` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    pub(crate) key: VerifyingKey,
}

/// A key file that cannot be made or read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Bad { path: String, message: String },
}

fn bad(path: &str, message: impl Into<String>) -> KeyError {
    KeyError::Bad { path: path.to_string(), message: message.into() }
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io { path: path.display().to_string(), source }
}

/// A key's name becomes a file name and appears in `.pub` lines: the
/// characters store keys allow, so it never reaches another directory.
pub fn check_key_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(format!("key name {name:?} is not allowed: use letters, digits, '-', '_' and '.'")) }
}

/// Decodes exactly 32 bytes of strict base64 into a buffer wiped on drop.
fn decode32(path: &str, what: &str, b64: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut buf = Zeroizing::new([0u8; 48]);
    let n = STANDARD
        .decode_slice(b64.as_bytes(), &mut buf[..])
        .map_err(|e| bad(path, format!("the {what} is not base64: {e}")))?;
    if n != 32 {
        return Err(bad(path, format!("the {what} is {n} bytes, not 32")));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&buf[..32]);
    Ok(out)
}

/// Reads a key file whole, bounded, into memory wiped on drop. Only a
/// regular file is opened (a FIFO or a device would block or never end);
/// `secret` also refuses one readable by group or others, and any key file
/// writable by others is refused, judged on the file opened, so it cannot
/// be swapped between the check and the read.
fn read_small(path: &Path, secret: bool) -> Result<Zeroizing<String>, KeyError> {
    let shown = path.display().to_string();
    if !std::fs::metadata(path).map_err(|e| io(path, e))?.is_file() {
        return Err(bad(&shown, "is not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() {
        return Err(bad(&shown, "is not a regular file"));
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(
                &shown,
                format!("is readable by others (mode {mode:03o}); a secret key must be 0600: chmod 600 {shown}"),
            ));
        }
    }
    // A key anyone on the machine can rewrite is a key anyone can choose:
    // a trusted public key so writable lets every local user have the agent
    // accept a blessing of their own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o002 != 0 {
            return Err(bad(
                &shown,
                format!("is writable by anyone (mode {mode:03o}); a key file must not be: chmod o-w {shown}"),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = secret;
    // Room for the largest file read, so it is never reallocated (which
    // would leave a copy of a secret behind).
    let mut text = Zeroizing::new(String::with_capacity(2 * MAX_KEY_FILE as usize));
    file.take(MAX_KEY_FILE + 1).read_to_string(&mut text).map_err(|e| io(path, e))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(bad(&shown, "is too large to be a key file"));
    }
    Ok(text)
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

impl SecretKey {
    /// A fresh key named `name`, from the operating system's random source.
    pub fn generate(name: &str) -> SecretKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).expect("the operating system's random source works");
        SecretKey { name: name.to_string(), key: SigningKey::from_bytes(&seed) }
    }

    /// Writes `<dir>/<name>.key` (0600, refused if it exists) and `<dir>/<name>.pub`.
    pub fn write_pair(&self, dir: &Path) -> Result<(), KeyError> {
        let secret_path = dir.join(format!("{}.key", self.name));
        let public_path = dir.join(format!("{}.pub", self.name));
        check_key_name(&self.name).map_err(|m| bad(&secret_path.display().to_string(), m))?;
        for p in [&secret_path, &public_path] {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(bad(&p.display().to_string(), "already exists; haul never overwrites a key file"));
            }
        }
        // Built in place, with room to spare, so no copy of the secret is
        // left behind by a reallocation.
        let mut line = Zeroizing::new(String::with_capacity(128));
        line.push_str(SECRET_PREFIX);
        line.push(' ');
        STANDARD.encode_string(self.key.as_bytes(), &mut line);
        line.push('\n');
        write_new(&secret_path, line.as_bytes(), 0o600)?;
        if let Err(e) = write_new(&public_path, self.public().to_line().as_bytes(), 0o644) {
            // Leave no secret without its public half.
            let _ = std::fs::remove_file(&secret_path);
            return Err(e);
        }
        Ok(())
    }

    /// Reads a `.key` file; the key is named after the file.
    pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
        let shown = path.display().to_string();
        let text = read_small(path, true)?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let Some(b64) = line.strip_prefix(SECRET_PREFIX).and_then(|r| r.strip_prefix(' ')) else {
            return Err(bad(
                &shown,
                format!("is not a haul secret key (it must be one line `{SECRET_PREFIX} <base64>`)"),
            ));
        };
        let seed = decode32(&shown, "secret key", b64)?;
        Ok(SecretKey { name: stem(path), key: SigningKey::from_bytes(&seed) })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key: self.key.verifying_key() }
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = opts.open(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| io(path, e))
}

impl PublicKey {
    /// Reads a `.pub` file. The name is the line's third field, or the
    /// file's name without `.pub` when the line has none.
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let text = read_small(path, false)?;
        let mut key = PublicKey::parse(&path.display().to_string(), &text)?;
        if key.name.is_empty() {
            key.name = stem(path);
        }
        Ok(key)
    }

    /// Parses one `.pub` line; `origin` names where it came from in errors.
    pub fn parse(origin: &str, text: &str) -> Result<PublicKey, KeyError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let mut fields = line.split(' ');
        if fields.next() != Some(PUBLIC_PREFIX) {
            return Err(bad(origin, format!("is not a haul public key (it must be `{PUBLIC_PREFIX} <base64> NAME`)")));
        }
        let b64 = fields.next().unwrap_or("");
        let name = fields.next().unwrap_or("").to_string();
        if fields.next().is_some() {
            return Err(bad(origin, "has more than three fields"));
        }
        if !name.is_empty() {
            check_key_name(&name).map_err(|m| bad(origin, m))?;
        }
        let bytes = decode32(origin, "public key", b64)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad(origin, "is not a valid ed25519 public key"))?;
        if key.is_weak() {
            return Err(bad(origin, "is a weak (small-order) ed25519 public key, which anyone can sign for"));
        }
        Ok(PublicKey { name, key })
    }

    /// The key's `.pub` line, newline included.
    pub fn to_line(&self) -> String {
        format!("{PUBLIC_PREFIX} {} {}\n", STANDARD.encode(self.key.as_bytes()), self.name)
    }

    pub fn id(&self) -> KeyId {
        let hex = blake3::hash(self.key.as_bytes()).to_hex();
        KeyId(hex[..16].to_string())
    }
}

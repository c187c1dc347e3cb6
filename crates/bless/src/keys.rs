//! ed25519 key files: `haul key new NAME` writes `NAME.key` (secret, mode
//! 0600) and `NAME.pub`; agents trust `.pub` files.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A key's short name in signatures: blake3 of the public key, first 16 hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

/// A signing key, read from a `.key` file.
pub struct SecretKey {
    pub name: String,
    pub(crate) key: ed25519_dalek::SigningKey,
}

/// A key agents trust, read from a `.pub` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    pub(crate) key: ed25519_dalek::VerifyingKey,
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

impl SecretKey {
    /// A fresh key named `name`.
    pub fn generate(name: &str) -> SecretKey {
        let _ = name;
        todo!("FOUNDATION: bless helper")
    }
    /// Writes `<dir>/<name>.key` (0600, refused if it exists) and `<dir>/<name>.pub`.
    pub fn write_pair(&self, dir: &Path) -> Result<(), KeyError> {
        let _ = dir;
        todo!("FOUNDATION: bless helper")
    }
    pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
        let _ = path;
        todo!("FOUNDATION: bless helper")
    }
    pub fn public(&self) -> PublicKey {
        todo!("FOUNDATION: bless helper")
    }
}

impl PublicKey {
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let _ = path;
        todo!("FOUNDATION: bless helper")
    }
    pub fn id(&self) -> KeyId {
        todo!("FOUNDATION: bless helper")
    }
}

//! The manifest: every path of a release with its kind, mode, size and hash.

use serde::{Deserialize, Serialize};

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    Dir,
    File { size: u64, blake3: String },
    Symlink { target: String },
}

/// One path of a release. `path` is relative, `/`-separated, never `.`/`..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    #[serde(flatten)]
    pub kind: Kind,
}

impl Entry {
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { size, .. } => *size,
            _ => 0,
        }
    }
}

/// Every entry of a release, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Builds a manifest, sorting entries so equal trees give equal manifests.
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest { entries }
    }

    /// The content digest: blake3 over a canonical encoding of every entry.
    /// Modification times and owners are not part of it.
    pub fn digest(&self) -> String {
        let mut h = blake3::Hasher::new();
        for e in &self.entries {
            h.update(e.path.as_bytes());
            h.update(&[0]);
            h.update(format!("{:o}", e.mode).as_bytes());
            h.update(&[0]);
            match &e.kind {
                Kind::Dir => h.update(b"d"),
                Kind::File { size, blake3 } => h.update(format!("f{size}:{blake3}").as_bytes()),
                Kind::Symlink { target } => {
                    h.update(b"l");
                    h.update(target.as_bytes())
                }
            };
            h.update(b"\n");
        }
        h.finalize().to_hex().to_string()
    }

    pub fn files(&self) -> usize {
        self.entries.iter().filter(|e| matches!(e.kind, Kind::File { .. })).count()
    }

    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }

    /// Refuses entries whose path could leave the release directory: a
    /// manifest read from a host or a cache is checked before it is used.
    pub fn check_paths(&self) -> Result<(), crate::ReleaseError> {
        for e in &self.entries {
            if !clean_relative(&e.path) {
                return Err(crate::ReleaseError::BadPath { path: e.path.clone() });
            }
        }
        Ok(())
    }

    /// Refuses a manifest with a symlink that leads out of the release, by
    /// the same rule `pack` applies: a cached release is checked before it
    /// ships.
    pub fn check_links(&self) -> Result<(), crate::ReleaseError> {
        let links = self
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Symlink { target } => Some((e.path.clone(), target.clone())),
                _ => None,
            })
            .collect();
        crate::links::check_links(&links)
    }
}

pub(crate) fn clean_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

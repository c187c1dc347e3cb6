//! Releases from archives another tool made (`tar -czf site.tgz src/*`):
//! unpacked by haul's own reader into a scratch directory, then packed like
//! any build. The reader refuses, naming the entry, anything that could
//! write outside the tree or smuggle privilege: absolute or `..` names,
//! device files and FIFOs, links that escape, setuid/setgid bits, more bytes
//! or entries than the limits.

use crate::ReleaseError;
use std::path::Path;

/// Bounds on what an imported archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Total bytes of file contents.
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits { max_bytes: 16 << 30, max_entries: 1_000_000 }
    }
}

/// Unpacks `archive` (`.tar`, `.tar.gz`/`.tgz` or `.tar.zst`, known by its
/// first bytes) into `dest`, which must be empty.
pub fn unpack_foreign(archive: &Path, dest: &Path, limits: ImportLimits) -> Result<(), ReleaseError> {
    let _ = (archive, dest, limits);
    todo!("FOUNDATION: archive helper")
}

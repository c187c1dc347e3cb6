//! The check an agent makes before a downloaded archive reaches its host's
//! layout: the archive holds exactly the manifest's entries (names, kinds,
//! modes, sizes, link targets, blake3 of every file) and nothing else.

use crate::{Manifest, ReleaseError};
use std::path::Path;

/// Refuses `archive` unless its entries are exactly `manifest`'s.
pub fn verify_archive(archive: &Path, manifest: &Manifest) -> Result<(), ReleaseError> {
    let _ = (archive, manifest);
    todo!("FOUNDATION: archive helper")
}

//! `haul spool`: a release into the store exactly once.
//!
//! The archive and the record are written under names that are their
//! digests (writing them twice writes the same bytes); the release's
//! `index.json` is the commit point, written create-if-absent. The same
//! release again is a no-op; another body under an existing id is refused.

use crate::{Store, StoreError};
use haul_release::{Release, ReleaseCache, ReleaseId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A stored object, by what its bytes must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// blake3 of the whole object, hex.
    pub blake3: String,
    pub size: u64,
}

/// A spooled release's index: what the store holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolIndex {
    pub app: String,
    pub id: ReleaseId,
    /// The manifest's digest (the release's identity).
    pub digest: String,
    pub archive: Object,
    pub record: Object,
    pub spooled: Timestamp,
    pub by: String,
}

/// What `spool` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spooled {
    Uploaded(SpoolIndex),
    /// The same release was already in the store; nothing was written.
    Already(SpoolIndex),
}

/// Uploads release `id` of `app` from `cache`, streaming the archive.
pub async fn spool(
    store: &Store,
    cache: &ReleaseCache,
    app: &str,
    id: &ReleaseId,
    by: &str,
) -> Result<Spooled, StoreError> {
    let _ = (store, cache, app, id, by);
    todo!("FOUNDATION: store helper")
}

/// The index of release `id` of `app`, if spooled.
pub async fn index(store: &Store, app: &str, id: &ReleaseId) -> Result<Option<SpoolIndex>, StoreError> {
    let _ = (store, app, id);
    todo!("FOUNDATION: store helper")
}

/// Reads the release record `index` names, checking its digest and size.
pub async fn record(store: &Store, index: &SpoolIndex) -> Result<Release, StoreError> {
    let _ = (store, index);
    todo!("FOUNDATION: store helper")
}

/// Streams the archive `index` names into `dest`, checking size (never more
/// than `index.archive.size` is read) and blake3 as it goes; on any mismatch
/// `dest` is removed and the error names what differed. When `dest` already
/// holds a prefix of the archive (an interrupted download), only the rest is
/// fetched.
pub async fn download(store: &Store, index: &SpoolIndex, dest: &Path) -> Result<(), StoreError> {
    let _ = (store, index, dest);
    todo!("FOUNDATION: store helper")
}

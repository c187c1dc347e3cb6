//! `haul spool`: a release into the store exactly once.
//!
//! The archive and the record are written under names that are their
//! digests (writing them twice writes the same bytes); the release's
//! `index.json` is the commit point, written create-if-absent. The same
//! release again is a no-op; another body under an existing id is refused.
//!
//! An index is not trusted blindly: spooling a release whose index is
//! already there checks that the record is there with the bytes the index
//! names and that the archive is there with its size, and uploads whichever
//! is missing or wrong again (they are named by their digests, so
//! rewriting them with the right bytes is harmless). An archive with the
//! right size but other bytes is caught by every [`download`], which checks
//! its blake3.

mod download;
mod upload;

pub use download::download;
pub use upload::{MAX_IN_FLIGHT, PART};

use crate::{Created, Store, StoreError, keys};
use bytes::Bytes;
use haul_release::{Release, ReleaseCache, ReleaseId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The largest `index.json` read.
pub const MAX_INDEX: u64 = 64 << 10;
/// The largest release record read (one line per file of the release).
pub const MAX_RECORD: u64 = 512 << 20;

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

impl SpoolIndex {
    /// The archive's key.
    pub fn archive_key(&self) -> String {
        keys::archive(&self.app, &self.id, &self.archive.blake3)
    }

    /// The record's key.
    pub fn record_key(&self) -> String {
        keys::record(&self.app, &self.id, &self.record.blake3)
    }

    /// Whether `other` describes the same bytes (who spooled it and when
    /// do not count).
    pub fn same_release(&self, other: &SpoolIndex) -> bool {
        self.app == other.app
            && self.id == other.id
            && self.digest == other.digest
            && self.archive == other.archive
            && self.record == other.record
    }
}

/// What `spool` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spooled {
    Uploaded(SpoolIndex),
    /// The same release was already in the store; nothing was written
    /// (unless one of its objects was missing or wrong and was restored).
    Already(SpoolIndex),
}

impl Spooled {
    pub fn index(&self) -> &SpoolIndex {
        match self {
            Spooled::Uploaded(i) | Spooled::Already(i) => i,
        }
    }
}

/// Uploads release `id` of `app` from `cache`, streaming the archive.
pub async fn spool(
    store: &Store,
    cache: &ReleaseCache,
    app: &str,
    id: &ReleaseId,
    by: &str,
) -> Result<Spooled, StoreError> {
    keys::component("app", app)?;
    let release = cache.get(app, id)?;
    let record_bytes = Bytes::from(release.to_lines());
    let record = Object { blake3: blake3::hash(&record_bytes).to_hex().to_string(), size: record_bytes.len() as u64 };
    let archive_path = {
        let (cache, release) = (cache.clone(), release.clone());
        tokio::task::spawn_blocking(move || cache.archive(&release))
            .await
            .expect("writing an archive does not panic")?
    };
    let archive = upload::hash_file(&archive_path).await?;
    let ours = SpoolIndex {
        app: app.to_string(),
        id: id.clone(),
        digest: release.digest.clone(),
        archive,
        record,
        spooled: Timestamp::now(),
        by: by.to_string(),
    };
    let index_key = keys::release_index(app, id);

    if let Some(theirs) = index(store, app, id).await? {
        return already(store, &ours, theirs, &archive_path, record_bytes).await;
    }
    upload::put_file(store, &ours.archive_key(), &archive_path, &ours.archive).await?;
    store.overwrite(&ours.record_key(), record_bytes.clone()).await?;
    let body = Bytes::from(serde_json::to_vec_pretty(&ours).expect("an index serializes"));
    match store.create(&index_key, body).await? {
        Created::New => Ok(Spooled::Uploaded(ours)),
        // Someone spooled the same id while we uploaded.
        Created::Exists => {
            let theirs = index(store, app, id).await?.ok_or_else(|| StoreError::Corrupt {
                url: store.url().into(),
                key: index_key.clone(),
                message: "the index was there a moment ago and is gone".into(),
            })?;
            already(store, &ours, theirs, &archive_path, record_bytes).await
        }
    }
}

/// The index is there: the same release (restore what is missing) or a
/// conflict.
async fn already(
    store: &Store,
    ours: &SpoolIndex,
    theirs: SpoolIndex,
    archive_path: &std::path::Path,
    record_bytes: Bytes,
) -> Result<Spooled, StoreError> {
    if !ours.same_release(&theirs) {
        let what = if ours.digest != theirs.digest {
            format!("its manifest digest is {}, this release's is {}", theirs.digest, ours.digest)
        } else if ours.archive != theirs.archive {
            format!(
                "its archive is {} ({} bytes), this one is {} ({} bytes)",
                theirs.archive.blake3, theirs.archive.size, ours.archive.blake3, ours.archive.size
            )
        } else {
            format!("its record is {}, this one is {}", theirs.record.blake3, ours.record.blake3)
        };
        return Err(StoreError::Conflict {
            url: store.url().into(),
            key: keys::release_index(&ours.app, &ours.id),
            message: what,
        });
    }
    let record_ok = match store.get(&theirs.record_key(), theirs.record.size).await {
        Ok(Some(b)) => b == record_bytes,
        Ok(None) | Err(StoreError::TooLarge { .. }) => false,
        Err(e) => return Err(e),
    };
    if !record_ok {
        store.overwrite(&theirs.record_key(), record_bytes).await?;
    }
    if store.size(&theirs.archive_key()).await? != Some(theirs.archive.size) {
        upload::put_file(store, &theirs.archive_key(), archive_path, &theirs.archive).await?;
    }
    Ok(Spooled::Already(theirs))
}

/// The index of release `id` of `app`, if spooled. An index that does not
/// describe release `id` of `app`, or names its objects oddly, is refused.
pub async fn index(store: &Store, app: &str, id: &ReleaseId) -> Result<Option<SpoolIndex>, StoreError> {
    let key = keys::release_index(keys::component("app", app)?, id);
    let Some(bytes) = store.get(&key, MAX_INDEX).await? else { return Ok(None) };
    let corrupt = |message: String| StoreError::Corrupt { url: store.url().into(), key: key.clone(), message };
    let index: SpoolIndex = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if index.app != app || index.id != *id {
        return Err(corrupt(format!("it describes release {} of {}", index.id, index.app)));
    }
    for (what, o) in [("archive", &index.archive), ("record", &index.record)] {
        if !is_blake3_hex(&o.blake3) {
            return Err(corrupt(format!("its {what} digest {:?} is not a blake3 hex digest", o.blake3)));
        }
    }
    if !is_blake3_hex(&index.digest) {
        return Err(corrupt(format!("its manifest digest {:?} is not a blake3 hex digest", index.digest)));
    }
    Ok(Some(index))
}

/// Reads the release record `index` names, checking its digest and size,
/// that it is the release the index names and that its manifest has that
/// digest and no path or link that leaves the release.
pub async fn record(store: &Store, index: &SpoolIndex) -> Result<Release, StoreError> {
    let key = index.record_key();
    let corrupt = |message: String| StoreError::Corrupt { url: store.url().into(), key: key.clone(), message };
    if index.record.size > MAX_RECORD {
        return Err(StoreError::TooLarge { url: store.url().into(), key, size: index.record.size, max: MAX_RECORD });
    }
    let bytes = store.get(&key, index.record.size).await?.ok_or_else(|| corrupt("the record is missing".into()))?;
    if bytes.len() as u64 != index.record.size {
        return Err(corrupt(format!("{} bytes, the index says {}", bytes.len(), index.record.size)));
    }
    let got = blake3::hash(&bytes).to_hex().to_string();
    if got != index.record.blake3 {
        return Err(corrupt(format!("its blake3 is {got}, the index says {}", index.record.blake3)));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("the record is not UTF-8".into()))?;
    let release = Release::from_lines(text).map_err(corrupt)?;
    if release.app != index.app || release.id != index.id.as_str() || release.digest != index.digest {
        return Err(corrupt(format!(
            "it is release {} of {} with digest {}, the index names {} of {} with digest {}",
            release.id, release.app, release.digest, index.id, index.app, index.digest
        )));
    }
    if release.manifest.digest() != index.digest {
        return Err(corrupt("its entries do not have the index's digest".into()));
    }
    release.manifest.check_paths()?;
    release.manifest.check_links()?;
    Ok(release)
}

pub(crate) fn is_blake3_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

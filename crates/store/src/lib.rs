//! The object store pull deploys go through: releases spooled once,
//! blessings written with a compare-and-swap, agents' reports and claims.
//!
//! `object_store` does the talking (a local or shared directory by
//! `file://`, S3-compatible services by `s3://`, GCS and Azure by their
//! URLs); this crate owns what haul keeps there and the rules it relies on:
//! every write that must happen once is a create-if-absent, and a store that
//! silently overwrites is refused before anything is written ([`cas`]).
//! The key layout has one home, [`keys`].

pub mod blessings;
pub mod cas;
mod error;
pub mod keys;
pub mod list;
mod open;
pub mod purge;
pub mod reports;
pub mod spool;
pub mod verifications;

pub use error::StoreError;
pub use open::{DEFAULT_TIMEOUT, StoreOptions};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;

/// An open store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Every key lives under this prefix (the URL's path on a bucket).
    prefix: Key,
    /// The store's URL as the user wrote it, without credentials.
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish_non_exhaustive()
    }
}

/// What a create-if-absent write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was written.
    New,
    /// An object was already there; nothing was written.
    Exists,
}

/// A conditional read's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The object with its entity tag.
    Body {
        bytes: Bytes,
        etag: Option<String>,
    },
    /// Unchanged since the entity tag given.
    Unchanged,
    Missing,
}

impl Store {
    /// The store's URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn key(&self, rel: &str) -> Key {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(rel.split('/').filter(|p| !p.is_empty()).map(str::to_string));
        Key::from_iter(parts)
    }

    pub(crate) fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Writes `bytes` at `rel` only if nothing is there.
    pub async fn create(&self, rel: &str, bytes: Bytes) -> Result<Created, StoreError> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&self.key(rel), PutPayload::from_bytes(bytes), opts).await {
            Ok(_) => Ok(Created::New),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::Exists),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    /// Writes `bytes` at `rel`, replacing what is there (reports, hints:
    /// objects with one writer whose last word is what counts).
    pub async fn overwrite(&self, rel: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.inner.put(&self.key(rel), PutPayload::from_bytes(bytes)).await.map_err(|e| self.error(rel, e))?;
        Ok(())
    }

    /// Reads `rel` whole, refusing more than `max` bytes.
    pub async fn get(&self, rel: &str, max: u64) -> Result<Option<Bytes>, StoreError> {
        match self.fetch(rel, None, max).await? {
            Fetched::Body { bytes, .. } => Ok(Some(bytes)),
            Fetched::Missing => Ok(None),
            Fetched::Unchanged => unreachable!("no entity tag was given"),
        }
    }

    /// Reads `rel` unless it still has entity tag `etag` (If-None-Match), so
    /// an unchanged object costs one small request.
    pub async fn fetch(&self, rel: &str, etag: Option<&str>, max: u64) -> Result<Fetched, StoreError> {
        let opts = object_store::GetOptions { if_none_match: etag.map(str::to_string), ..Default::default() };
        let got = match self.inner.get_opts(&self.key(rel), opts).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(Fetched::Missing),
            Err(object_store::Error::NotModified { .. }) => return Ok(Fetched::Unchanged),
            Err(e) => return Err(self.error(rel, e)),
        };
        if got.meta.size > max {
            return Err(StoreError::TooLarge { url: self.url.clone(), key: rel.into(), size: got.meta.size, max });
        }
        let etag = got.meta.e_tag.clone();
        // Read as a stream so a store that sends more than it announced
        // is cut off at `max`, not read to its end.
        let mut body = bytes::BytesMut::with_capacity(got.meta.size as usize);
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(rel, e))?;
            let size = (body.len() + chunk.len()) as u64;
            if size > max {
                return Err(StoreError::TooLarge { url: self.url.clone(), key: rel.into(), size, max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes: body.freeze(), etag })
    }

    /// Size of `rel`, if it exists.
    pub async fn size(&self, rel: &str) -> Result<Option<u64>, StoreError> {
        match self.inner.head(&self.key(rel)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    /// Removes `rel`; a missing object is not an error.
    pub async fn delete(&self, rel: &str) -> Result<(), StoreError> {
        match self.inner.delete(&self.key(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(rel, e)),
        }
    }

    pub(crate) fn error(&self, rel: &str, source: object_store::Error) -> StoreError {
        StoreError::Backend { url: self.url.clone(), key: rel.to_string(), source: Box::new(source) }
    }
}

//! Blessing versions in the store: each version is its own object written
//! create-if-absent, so of two people blessing version N+1 exactly one wins
//! (on every backend, `file://` included) and the other is told. A `latest`
//! hint beside them (a copy of the newest envelope, replaced with If-Match
//! where the backend has it) lets an agent poll with If-None-Match: an
//! unchanged pointer costs one small request. The versioned objects are the
//! truth; the hint only saves requests.

use crate::{Created, Fetched, Store, StoreError};
use bytes::Bytes;

/// The largest envelope read.
pub const MAX_ENVELOPE: u64 = 1 << 20;

/// The newest version of `app` in `env` and its envelope's bytes (from a
/// listing: authoritative).
pub async fn latest(store: &Store, app: &str, env: &str) -> Result<Option<(u64, Bytes)>, StoreError> {
    let _ = (store, app, env);
    todo!("FOUNDATION: bless helper")
}

/// Version `version`'s envelope, if written.
pub async fn get(store: &Store, app: &str, env: &str, version: u64) -> Result<Option<Bytes>, StoreError> {
    let _ = (store, app, env, version);
    todo!("FOUNDATION: bless helper")
}

/// Writes `envelope` as version `version` if no blessing of that version
/// exists, then moves the hint forward (never backward).
pub async fn publish(
    store: &Store,
    app: &str,
    env: &str,
    version: u64,
    envelope: Bytes,
) -> Result<Created, StoreError> {
    let _ = (store, app, env, version, envelope);
    todo!("FOUNDATION: bless helper")
}

/// Reads the hint unless it still has entity tag `etag`.
pub async fn poll(store: &Store, app: &str, env: &str, etag: Option<&str>) -> Result<Fetched, StoreError> {
    let _ = (store, app, env, etag);
    todo!("FOUNDATION: bless helper")
}

/// The last `n` versions, newest first (for `--previous`, purge and ls).
pub async fn history(store: &Store, app: &str, env: &str, n: usize) -> Result<Vec<(u64, Bytes)>, StoreError> {
    let _ = (store, app, env, n);
    todo!("FOUNDATION: bless helper")
}

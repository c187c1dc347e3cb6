//! Opening a store by URL: `file://` (or a plain path) and `s3://`, plus
//! what `object_store` gives by URL for GCS and Azure.

use crate::{Store, StoreError};
use object_store::path::Path as Key;
use std::sync::Arc;

/// Settings beside the URL (`[store]` in `haul.toml`, or the agent's
/// environment). Credentials are never here: they come from the usual
/// environment variables (`AWS_ACCESS_KEY_ID`, …).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// An S3-compatible endpoint (MinIO, R2, a test server), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
}

impl Store {
    /// Opens the store at `url`. Nothing is read or written yet; call
    /// [`Store::check_refuses_overwrite`] before relying on it.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let bad = |message: String| StoreError::Url { url: url.to_string(), message };
        if let Some(path) = url.strip_prefix("file://").or_else(|| url.starts_with('/').then_some(url)) {
            std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create the directory: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(path).map_err(|e| bad(e.to_string()))?;
            return Ok(Store { inner: Arc::new(fs), prefix: Key::default(), url: url.to_string() });
        }
        crate::open::open_remote(url, options)
    }
}

/// `s3://bucket/prefix` and the other remote schemes.
fn open_remote(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let _ = options;
    Err(StoreError::Url { url: url.to_string(), message: "FOUNDATION: store helper adds s3://".into() })
}

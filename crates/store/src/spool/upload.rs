//! Uploading an archive from the local cache with bounded memory: small
//! archives in one put, larger ones as a multipart upload of fixed parts
//! with at most [`MAX_IN_FLIGHT`] parts in the air, hashing as they go.

use super::Object;
use crate::{Store, StoreError};
use object_store::{ObjectStoreExt, WriteMultipart};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The size of one multipart part (S3 wants at least 5 MiB but the last).
/// Archives up to this size go in one put.
pub const PART: usize = 8 << 20;
/// Parts uploading at once. With the part being filled, the memory an
/// upload holds is at most `(MAX_IN_FLIGHT + 1) * PART` plus one read
/// buffer, whatever the archive's size.
pub const MAX_IN_FLIGHT: usize = 2;
/// One read from the archive.
const READ: usize = 1 << 20;

// S3 refuses parts under 5 MiB (but the last), and an upload's memory
// stays bounded whatever the archive's size.
const _: () = assert!(PART >= 5 << 20);
const _: () = assert!((MAX_IN_FLIGHT + 1) * PART + READ <= 32 << 20);

fn local(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Local { path: path.display().to_string(), source }
}

/// blake3 and size of the file at `path`, read in bounded chunks.
pub(crate) async fn hash_file(path: &Path) -> Result<Object, StoreError> {
    let mut file = tokio::fs::File::open(path).await.map_err(|e| local(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; READ];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(|e| local(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Object { blake3: hasher.finalize().to_hex().to_string(), size })
}

/// Uploads the file at `path` to `rel`, refusing (and abandoning the
/// upload) if its bytes are not `expect`'s: the file changed since it was
/// hashed.
pub(crate) async fn put_file(store: &Store, rel: &str, path: &Path, expect: &Object) -> Result<(), StoreError> {
    let changed = || {
        local(path, std::io::Error::other(format!("changed while it was uploaded to {rel}; the upload was abandoned")))
    };
    let mut file = tokio::fs::File::open(path).await.map_err(|e| local(path, e))?;
    if expect.size <= PART as u64 {
        // Never more than PART bytes, even if the file grew.
        let mut body = Vec::with_capacity(expect.size as usize);
        (&mut file).take(PART as u64 + 1).read_to_end(&mut body).await.map_err(|e| local(path, e))?;
        if body.len() as u64 != expect.size || blake3::hash(&body).to_hex().as_str() != expect.blake3 {
            return Err(changed());
        }
        return store.overwrite(rel, bytes::Bytes::from(body)).await;
    }
    let key = store.key(rel);
    let upload = store.inner().put_multipart(&key).await.map_err(|e| store.error(rel, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0; READ];
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(local(path, e));
            }
        };
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > expect.size {
            let _ = writer.abort().await;
            return Err(changed());
        }
        hasher.update(&buf[..n]);
        if let Err(e) = writer.wait_for_capacity(MAX_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(store.error(rel, e));
        }
        writer.write(&buf[..n]);
    }
    if size != expect.size || hasher.finalize().to_hex().as_str() != expect.blake3 {
        let _ = writer.abort().await;
        return Err(changed());
    }
    writer.finish().await.map_err(|e| store.error(rel, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn store(dir: &Path) -> Store {
        Store::open(&format!("file://{}", dir.join("store").display()), &StoreOptions::default()).unwrap()
    }

    #[tokio::test]
    async fn an_archive_that_changes_while_it_uploads_is_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for size in [1000, PART + 1000] {
            let path = dir.path().join(format!("a{size}"));
            std::fs::write(&path, vec![7u8; size]).unwrap();
            let hashed = hash_file(&path).await.unwrap();
            assert_eq!(hashed.size, size as u64);
            // Changed after hashing: same size, other bytes; then longer.
            std::fs::write(&path, vec![8u8; size]).unwrap();
            let e = put_file(&s, "x", &path, &hashed).await.unwrap_err();
            assert!(e.to_string().contains("changed while it was uploaded"), "{e}");
            std::fs::write(&path, vec![7u8; size + 1]).unwrap();
            assert!(put_file(&s, "x", &path, &hashed).await.is_err());
            assert_eq!(s.list_keys("").await.unwrap(), Vec::<String>::new(), "nothing is left at the key");
            std::fs::write(&path, vec![7u8; size]).unwrap();
            put_file(&s, "x", &path, &hashed).await.unwrap();
            assert_eq!(s.size("x").await.unwrap(), Some(size as u64));
            s.delete("x").await.unwrap();
        }
    }
}

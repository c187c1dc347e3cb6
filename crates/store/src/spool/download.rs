//! Downloading a spooled archive: streamed to a file, never more than the
//! index's size, blake3 checked at the end, resumed after an interruption.
//!
//! A file already at `dest` is taken as the start of the archive (an
//! interrupted download): it is hashed, and only the rest is fetched with a
//! ranged GET. If the whole turns out wrong, `dest` is removed, so the next
//! try starts over. A transfer that breaks off (the network, the store
//! going away) leaves what arrived for the next try.

use super::SpoolIndex;
use crate::{Store, StoreError};
use futures_util::StreamExt;
use object_store::{GetOptions, GetRange};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn local(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Local { path: path.display().to_string(), source }
}

/// Streams the archive `index` names into `dest`, checking size (never more
/// than `index.archive.size` is read) and blake3 as it goes; on any mismatch
/// `dest` is removed and the error names what differed. When `dest` already
/// holds a prefix of the archive (an interrupted download), only the rest is
/// fetched.
pub async fn download(store: &Store, index: &SpoolIndex, dest: &Path) -> Result<(), StoreError> {
    let rel = index.archive_key();
    let size = index.archive.size;
    let corrupt = |message: String| StoreError::Corrupt { url: store.url().into(), key: rel.clone(), message };

    // What is there already, hashed.
    let mut hasher = blake3::Hasher::new();
    let mut have = 0u64;
    match tokio::fs::File::open(dest).await {
        Ok(mut f) => {
            let mut buf = vec![0; 1 << 20];
            loop {
                let n = f.read(&mut buf).await.map_err(|e| local(dest, e))?;
                if n == 0 {
                    break;
                }
                have += n as u64;
                if have > size {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(local(dest, e)),
    }
    if have > size {
        // Longer than the archive: not a prefix of it.
        remove(dest).await?;
        hasher = blake3::Hasher::new();
        have = 0;
    }

    if have < size {
        let mut out =
            tokio::fs::OpenOptions::new().create(true).append(true).open(dest).await.map_err(|e| local(dest, e))?;
        let opts = GetOptions { range: (have > 0).then_some(GetRange::Offset(have)), ..Default::default() };
        let got = match store.inner().get_opts(&store.key(&rel), opts).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(corrupt("the archive is missing".into())),
            Err(e) => {
                // A range past the end of a shorter object is refused by
                // the store: a wrong object, not a passing failure.
                if have > 0
                    && let Ok(Some(stored)) = store.size(&rel).await
                    && stored != size
                {
                    drop(out);
                    remove(dest).await?;
                    return Err(corrupt(format!("the store holds {stored} bytes, the index says {size}")));
                }
                return Err(store.error(&rel, e));
            }
        };
        if got.meta.size != size || got.range.start != have {
            drop(out);
            remove(dest).await?;
            return Err(corrupt(format!("the store holds {} bytes, the index says {size}", got.meta.size)));
        }
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            // A broken transfer keeps what arrived: the next try resumes.
            let chunk = chunk.map_err(|e| store.error(&rel, e))?;
            if have + chunk.len() as u64 > size {
                drop(out);
                remove(dest).await?;
                return Err(corrupt(format!("the store sent more than the {size} bytes the index says")));
            }
            out.write_all(&chunk).await.map_err(|e| local(dest, e))?;
            hasher.update(&chunk);
            have += chunk.len() as u64;
        }
        // Not synced: whatever reads `dest` after a restart goes through
        // this function first, which hashes what is there again, so a file
        // a power loss left short or torn is found and fetched again.
        out.flush().await.map_err(|e| local(dest, e))?;
        if have != size {
            drop(out);
            remove(dest).await?;
            return Err(corrupt(format!("the store sent {have} bytes, the index says {size}")));
        }
    }
    let got = hasher.finalize().to_hex().to_string();
    if got != index.archive.blake3 {
        remove(dest).await?;
        return Err(corrupt(format!("its blake3 is {got}, the index says {}", index.archive.blake3)));
    }
    Ok(())
}

async fn remove(dest: &Path) -> Result<(), StoreError> {
    match tokio::fs::remove_file(dest).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(local(dest, e)),
    }
}

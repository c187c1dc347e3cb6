//! File contents kept once per blake3 digest, so the release cache grows by
//! what changed and a stage stream reads only the files it sends.
//!
//! A blob is `<cache>/.blobs/<first two hex digits>/<digest>`, the file's
//! bytes as they are (no compression: a stage stream copies them onto the
//! wire, and most of what apps ship compresses poorly or is already
//! compressed). A blob appears by a rename of a finished temporary file, so
//! a reader sees it whole or not at all, and it is never written again.
//! The leading `.` keeps the directory out of the app names' way (an app
//! name starts with a letter or digit).

use crate::error::{IoContext, ReleaseError};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The blobs of one release cache.
#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    dir: PathBuf,
}

static TMP: AtomicU64 = AtomicU64::new(0);

impl Blobs {
    pub(crate) fn new(cache: &Path) -> Blobs {
        Blobs { dir: cache.join(".blobs") }
    }

    pub(crate) fn path(&self, blake3: &str) -> PathBuf {
        self.dir.join(&blake3[..2.min(blake3.len())]).join(blake3)
    }

    /// Whether the blob `blake3` is here with `size` bytes.
    pub(crate) fn has(&self, blake3: &str, size: u64) -> bool {
        fs::symlink_metadata(self.path(blake3)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Reads `src` into the store and returns its digest, the bytes read
    /// and whether the contents were new. Contents already stored are not
    /// written again.
    pub(crate) fn put(&self, src: &mut impl Read, src_path: &Path) -> Result<(String, u64, bool), ReleaseError> {
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let tmp = self.dir.join(format!(".tmp-{}-{}", std::process::id(), TMP.fetch_add(1, Ordering::Relaxed)));
        let result = (|| {
            let mut out = io::BufWriter::with_capacity(1 << 16, fs::File::create(&tmp).at(&tmp)?);
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut read = 0u64;
            loop {
                let n = src.read(&mut buf).at(src_path)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).at(&tmp)?;
                read += n as u64;
            }
            out.into_inner().map_err(|e| e.into_error()).at(&tmp)?;
            let digest = hasher.finalize().to_hex().to_string();
            let to = self.path(&digest);
            let new = !self.has(&digest, read);
            if new {
                let parent = to.parent().expect("a blob has a parent");
                fs::create_dir_all(parent).at(parent)?;
                fs::rename(&tmp, &to).at(&to)?;
            } else {
                fs::remove_file(&tmp).at(&tmp)?;
            }
            Ok((digest, read, new))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Opens the blob `blake3`, refusing one whose size is not `size` (a
    /// damaged cache is named, not shipped).
    pub(crate) fn open(&self, blake3: &str, size: u64) -> Result<fs::File, ReleaseError> {
        let path = self.path(blake3);
        let file = fs::File::open(&path).map_err(|e| missing(&path, e))?;
        let len = file.metadata().at(&path)?.len();
        if len != size {
            return Err(ReleaseError::Corrupt {
                path,
                message: format!("the blob has {len} bytes, its release says {size}; build the release again"),
            });
        }
        Ok(file)
    }

    /// Every stored digest, for pruning.
    pub(crate) fn all(&self) -> Result<Vec<String>, ReleaseError> {
        let mut out = Vec::new();
        let top = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ReleaseError::Io { path: self.dir.clone(), source: e }),
        };
        for sub in top {
            let sub = sub.at(&self.dir)?;
            if !sub.file_type().at(sub.path())?.is_dir() {
                continue;
            }
            for item in fs::read_dir(sub.path()).at(sub.path())? {
                let name = item.at(sub.path())?.file_name();
                if let Some(name) = name.to_str()
                    && name.len() == 64
                    && name.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Removes the blob `blake3` (gone already is fine).
    pub(crate) fn remove(&self, blake3: &str) -> Result<(), ReleaseError> {
        let path = self.path(blake3);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ReleaseError::Io { path, source: e }),
            _ => Ok(()),
        }
    }
}

fn missing(path: &Path, e: io::Error) -> ReleaseError {
    if e.kind() == io::ErrorKind::NotFound {
        ReleaseError::Corrupt {
            path: path.to_path_buf(),
            message: "a file of the release is missing from the cache; build the release again".into(),
        }
    } else {
        ReleaseError::Io { path: path.to_path_buf(), source: e }
    }
}

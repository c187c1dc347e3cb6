//! File contents kept once per blake3 digest, so the release cache grows by
//! what changed and a stage stream reads only the files it sends.
//!
//! A blob is `<cache>/.blobs/<first two hex digits>/<digest>`, the file's
//! bytes as they are (no compression: a stage stream copies them onto the
//! wire, and most of what apps ship compresses poorly or is already
//! compressed), readable by its owner only (a tree may hold secrets). A
//! blob appears by a rename of a finished temporary file, so a reader sees
//! it whole or not at all, and it is never written again. Every blob is
//! hashed the first time a process reads it: one that does not match its
//! name (a disk that lost a write, a hand that changed it) fails the read
//! before its last bytes leave, and is removed so the next build stores it
//! again. The leading `.` keeps the directory out of the app names' way
//! (an app name starts with a letter or digit).

use crate::error::{IoContext, ReleaseError};
use crate::pack::{Checked, Hashing};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The blobs of one release cache.
#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    dir: PathBuf,
    /// Digests this process has read whole and found right.
    verified: Arc<Mutex<HashSet<String>>>,
}

/// Whether `s` can name a blob: 64 lowercase hex digits, as blake3 prints.
pub(crate) fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Blobs {
    pub(crate) fn new(cache: &Path) -> Blobs {
        Blobs { dir: cache.join(".blobs"), verified: Arc::default() }
    }

    /// Where blob `blake3` is; refused when `blake3` is not a digest (a
    /// record or an index is read from disk, and a name is never a path).
    pub(crate) fn path(&self, blake3: &str) -> Result<PathBuf, ReleaseError> {
        if !is_digest(blake3) {
            return Err(ReleaseError::Corrupt {
                path: self.dir.clone(),
                message: format!("`{}` is not a blake3 digest", blake3.escape_debug()),
            });
        }
        Ok(self.dir.join(&blake3[..2]).join(blake3))
    }

    /// Whether the blob `blake3` is here with `size` bytes.
    pub(crate) fn has(&self, blake3: &str, size: u64) -> bool {
        self.path(blake3).is_ok_and(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() == size))
    }

    /// Reads `src` into the store and returns its digest, the bytes read
    /// and whether the contents were new. Contents already stored are not
    /// written again.
    pub(crate) fn put(&self, src: &mut impl Read, src_path: &Path) -> Result<(String, u64, bool), ReleaseError> {
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let tmp = crate::cache::temporary(&self.dir.join(".blob"));
        let result = (|| {
            let file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).at(&tmp)?;
            let mut out = io::BufWriter::with_capacity(1 << 16, file);
            let mut reader = Hashing::new(src);
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = reader.read(&mut buf).at(src_path)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).at(&tmp)?;
            }
            out.into_inner().map_err(|e| e.into_error()).at(&tmp)?;
            let (digest, read) = reader.finish();
            let new = !self.has(&digest, read);
            if new {
                let to = self.path(&digest)?;
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

    /// Opens the blob `blake3`, refusing one whose size is not `size`. The
    /// reader hashes what it gives unless this process has read the blob
    /// whole before, and fails rather than give the last bytes of one that
    /// does not match. A blob missing or damaged also removes `index` (the
    /// build index of the app that needs it, which trusts its blobs are
    /// there), so the next build reads and stores every file again.
    pub(crate) fn open(&self, blake3: &str, size: u64, index: &Path) -> Result<BlobReader, ReleaseError> {
        let path = self.path(blake3)?;
        let forget = || {
            let _ = fs::remove_file(index);
        };
        let file = fs::File::open(&path).map_err(|e| {
            forget();
            missing(&path, e)
        })?;
        let len = file.metadata().at(&path)?.len();
        if len != size {
            forget();
            return Err(ReleaseError::Corrupt {
                path,
                message: format!("the blob has {len} bytes, its release says {size}; build the release again"),
            });
        }
        let known = self.verified.lock().expect("not poisoned").contains(blake3);
        let inner = if known {
            Inner::Known(file.take(size))
        } else {
            Inner::Checking(Box::new(Checked::new(file, size, blake3)), 0, size)
        };
        Ok(BlobReader { inner, blobs: self.clone(), digest: blake3.to_string(), path, index: index.to_path_buf() })
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
                    && is_digest(name)
                {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Removes what killed writers left (only safe under the cache's
    /// exclusive lock).
    pub(crate) fn remove_temporaries(&self) -> Result<(), ReleaseError> {
        crate::cache::remove_temporaries(&self.dir)
    }

    /// Removes the blob `blake3` (gone already is fine).
    pub(crate) fn remove(&self, blake3: &str) -> Result<(), ReleaseError> {
        crate::cache::remove_if_there(&self.path(blake3)?)
    }
}

/// A blob's contents, checked against its digest as they are read unless
/// this process found them right before (see [`Blobs::open`]).
#[derive(Debug)]
pub struct BlobReader {
    inner: Inner,
    blobs: Blobs,
    digest: String,
    path: PathBuf,
    index: PathBuf,
}

#[derive(Debug)]
enum Inner {
    Known(io::Take<fs::File>),
    Checking(Box<Checked<fs::File>>, u64, u64),
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Known(f) => f.read(buf),
            Inner::Checking(c, read, size) => match c.read(buf) {
                Ok(n) => {
                    *read += n as u64;
                    if *read == *size {
                        self.blobs.verified.lock().expect("not poisoned").insert(self.digest.clone());
                    }
                    Ok(n)
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let _ = fs::remove_file(&self.path);
                    let _ = fs::remove_file(&self.index);
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: the cached contents do not match their digest (a damaged cache); \
                             removed: build the release again",
                            self.path.display()
                        ),
                    ))
                }
                Err(e) => Err(e),
            },
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

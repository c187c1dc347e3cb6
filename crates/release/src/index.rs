//! The build index: what each file of the last build's tree looked like
//! (size, modification and change times, inode, device) and its blake3, so
//! the next build hashes only the files that changed, as git's index does.
//!
//! One index per app, `<cache>/<app>/.index`, for the tree it was made
//! from (another tree starts afresh). A file is trusted unread only when
//! everything recorded of it is the same now **and** it had not been
//! touched within [`RACY`] of the build that recorded it: a file written in
//! the same timestamp tick as that build could change again without its
//! times moving, so such a file is always read again (git's "racily clean"
//! rule). The index is only ever a hint: a missing, stale, damaged or
//! foreign one costs a full read, never a wrong hash. It names only blobs
//! that are in the cache (so a build does not look for each): a prune that
//! removes blobs removes every index, and a reader that finds a blob
//! missing or damaged removes its app's.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How recently before a build a file may have been touched and still be
/// trusted unread by the next build. Larger than the coarsest timestamps
/// of the file systems haul runs on (2 s on FAT), and than the lag of the
/// kernel's coarse clock behind the wall clock.
pub(crate) const RACY: Duration = Duration::from_secs(3);

/// What is recorded of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stat {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl Stat {
    pub(crate) fn of(meta: &fs::Metadata) -> Stat {
        Stat {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }

    /// Touched at or after `since` (seconds, nanoseconds since the epoch).
    fn touched_since(&self, since: (i64, i64)) -> bool {
        self.mtime >= since || self.ctime >= since
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    tree: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Line {
    path: String,
    #[serde(flatten)]
    stat: Stat,
    blake3: String,
}

/// The index read at the start of a build, and what the build learns.
#[derive(Debug, Default)]
pub(crate) struct Index {
    known: HashMap<String, (Stat, String)>,
    learnt: Vec<(String, Stat, String)>,
    /// Files touched since this moment are not recorded as trusted.
    racy_since: (i64, i64),
}

impl Index {
    /// The index at `path` for `tree`; empty when there is none, it is
    /// unreadable, or it was made from another tree.
    /// Files touched within `racy` of now will not be trusted next time.
    pub(crate) fn load(path: &Path, tree: &Path, racy: Duration) -> Index {
        let since = SystemTime::now().checked_sub(racy).unwrap_or(SystemTime::UNIX_EPOCH);
        let since = since.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let mut index = Index { racy_since: (since.as_secs() as i64, since.subsec_nanos() as i64), ..Index::default() };
        let Ok(text) = fs::read_to_string(path) else { return index };
        let mut lines = text.lines();
        let same_tree =
            lines.next().and_then(|h| serde_json::from_str::<Header>(h).ok()).is_some_and(|h| h.tree == tree);
        if !same_tree {
            return index;
        }
        for l in lines {
            match serde_json::from_str::<Line>(l) {
                Ok(l) if crate::blobs::is_digest(&l.blake3) => {
                    index.known.insert(l.path, (l.stat, l.blake3));
                }
                // A damaged index is dropped whole: it is only a hint.
                _ => {
                    index.known.clear();
                    break;
                }
            }
        }
        index
    }

    /// The recorded blake3 of `path`, when its stat is what was recorded.
    pub(crate) fn hash(&self, path: &str, stat: &Stat) -> Option<&str> {
        self.known.get(path).filter(|(s, _)| s == stat).map(|(_, h)| h.as_str())
    }

    /// Records that `path`, as `stat` shows it, hashed to `blake3`. Files
    /// touched too recently to be trusted are left out.
    pub(crate) fn learn(&mut self, path: &str, stat: Stat, blake3: &str) {
        if !stat.touched_since(self.racy_since) {
            self.learnt.push((path.to_string(), stat, blake3.to_string()));
        }
    }

    /// Writes what this build learnt to `path` for `tree` (by a rename, so
    /// a reader never sees half of it). A failure to write is not the
    /// build's failure: the next build reads everything.
    pub(crate) fn save(self, path: &Path, tree: &Path) {
        let mut text = serde_json::to_string(&Header { tree: tree.to_path_buf() }).expect("a header serializes");
        text.push('\n');
        for (path, stat, blake3) in self.learnt {
            text.push_str(&serde_json::to_string(&Line { path, stat, blake3 }).expect("a line serializes"));
            text.push('\n');
        }
        let _ = crate::cache::write_atomic(path, text.as_bytes());
    }
}

//! What the store tests share: a store on each backend (a directory by
//! `file://`, a real moto server by `s3://`), releases built into a real
//! cache, and the macro that makes one test per case per backend.

#![allow(dead_code)]

use haul_release::{ReleaseCache, ReleaseId};
use haul_store::{Store, StoreOptions};
use haul_tests3::S3Server;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    File,
    S3,
}

/// A store on one backend and the scratch space of a test.
pub struct Fixture {
    pub store: Store,
    pub backend: Backend,
    pub dir: TempDir,
    pub cache: ReleaseCache,
    pub s3: Option<S3Server>,
}

impl Fixture {
    pub fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let cache = ReleaseCache::new(dir.path().join("cache"));
        let (store, s3) = match backend {
            Backend::File => {
                let url = format!("file://{}", dir.path().join("store").display());
                (Store::open(&url, &StoreOptions::default()).unwrap(), None)
            }
            Backend::S3 => {
                let s3 = S3Server::start();
                let store = Store::open_with(&s3.url("pull"), &StoreOptions::default(), s3.env()).unwrap();
                (store, Some(s3))
            }
        };
        Fixture { store, backend, dir, cache, s3 }
    }

    /// Another handle on the same store (a second writer).
    pub fn reopen(&self) -> Store {
        match &self.s3 {
            None => Store::open(self.store.url(), &StoreOptions::default()).unwrap(),
            Some(s3) => Store::open_with(self.store.url(), &StoreOptions::default(), s3.env()).unwrap(),
        }
    }

    /// Builds a release of `app` from `files` (path, contents).
    pub fn release(&self, app: &str, files: &[(&str, &[u8])]) -> ReleaseId {
        let tree = self.dir.path().join(format!("tree-{}", rand_name()));
        for (path, body) in files {
            let p = tree.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let (release, _) = self.cache.build(app, &tree, "tester", None).unwrap();
        ReleaseId::parse(&release.id).unwrap()
    }

    /// The release's archive (written from the cache's blobs when asked
    /// for the first time, as spooling does).
    pub fn archive_path(&self, app: &str, id: &ReleaseId) -> PathBuf {
        self.cache.archive(&self.cache.get(app, id).unwrap()).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `n` bytes that do not compress (blake3's output stream of `seed`).
pub fn noise(seed: &str, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    blake3::Hasher::new().update(seed.as_bytes()).finalize_xof().fill(&mut out);
    out
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// One test per case per backend: `backends!(case, …)` makes
/// `file::case` and `s3::case`, each calling `case(Backend::…)`.
#[macro_export]
macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::common::Backend::File).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::common::Backend::S3).await
                }
            )*
        }
    };
}

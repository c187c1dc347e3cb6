//! Errors of the release format, each naming the path involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("symlink `{path}` points to `{target}`, outside the tree that ships")]
    SymlinkEscapes { path: String, target: String },
    #[error("`{path}` is a {kind}; only files, directories and symlinks can ship")]
    Special { path: String, kind: &'static str },
    #[error("`{}` has a name that is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("`{path}` changed while it was being packed; build again")]
    Changed { path: String },
    #[error("the tree to ship, {}, does not exist or is not a directory", path.display())]
    NoTree { path: PathBuf },
    #[error("manifest entry `{path}` is not a clean relative path")]
    BadPath { path: String },
    #[error("no release `{id}` of app `{app}` in the release cache ({})", dir.display())]
    NotCached { app: String, id: String, dir: PathBuf },
    #[error("release cache entry {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ReleaseError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ReleaseError> {
        self.map_err(|source| ReleaseError::Io { path: path.into(), source })
    }
}

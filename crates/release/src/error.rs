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
    #[error("symlink `{}` points to `{}`, outside the tree that ships: {why}", path.escape_debug(), target.escape_debug())]
    SymlinkEscapes { path: String, target: String, why: crate::LinkEscape },
    #[error("`{}` is a {kind}; only files, directories and symlinks can ship", path.escape_debug())]
    Special { path: String, kind: &'static str },
    #[error("`{}` has a name that is not UTF-8; only UTF-8 names can ship (rename it)", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("symlink `{}` has a target that is not UTF-8; only UTF-8 targets can ship", path.escape_debug())]
    LinkNotUtf8 { path: String },
    #[error("`{}` changed while it was being packed; build again", path.escape_debug())]
    Changed { path: String },
    #[error("the tree to ship, {}, does not exist or is not a directory", path.display())]
    NoTree { path: PathBuf },
    #[error("`ship` lists `{}`, which does not exist in {}", path.escape_debug(), root.display())]
    ShipMissing { path: String, root: PathBuf },
    #[error(
        "`ship` lists `{}`, but `{}` on the way to it is a link or a file, not a directory; list what it leads to",
        path.escape_debug(),
        through.escape_debug()
    )]
    ShipThrough { path: String, through: String },
    #[error("manifest entry `{}` is not a clean relative path", path.escape_debug())]
    BadPath { path: String },
    #[error(
        "`{}` is not a release id (ids look like 20261123T190512.345Z-0123456789ab: 14 to 64 letters, digits, `-`, `.` and `_`, beginning with a letter or digit, and no part after a dot that is `manifest` or begins with `by-`, names a host keeps beside each release)",
        id.escape_debug()
    )]
    BadId { id: String },
    #[error("no release `{id}` of app `{app}` in the release cache ({})", dir.display())]
    NotCached { app: String, id: String, dir: PathBuf },
    #[error("release cache entry {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// An archive refused by the verifier or the importer, naming the entry.
    #[error("archive {}: {refusal}", path.display())]
    Archive { path: PathBuf, refusal: Box<crate::ArchiveRefusal> },
}

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ReleaseError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ReleaseError> {
        self.map_err(|source| ReleaseError::Io { path: path.into(), source })
    }
}

//! Why an archive was refused, entry by entry: one type for both readers
//! of tar streams (checking a downloaded release against its manifest and
//! importing another tool's archive), so every refusal names the entry it is
//! about and callers can tell them apart without reading messages.

use crate::LinkEscape;

/// What was wrong with an archive. `name` is always the entry's name as the
/// archive gives it (after long-name records), escaped when printed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveRefusal {
    /// The compressed or tar stream cannot be read: truncated, corrupt, a bad
    /// header checksum. `after` is the last entry read whole.
    #[error("the archive is corrupt or truncated{}: {source}", after_text(after))]
    Corrupt {
        after: Option<String>,
        #[source]
        source: std::io::Error,
    },
    /// Not a tar, gzip or zstd stream; `found` says what it looks like.
    #[error("not a tar archive (plain, gzip or zstd): {found}")]
    Format { found: String },
    /// A file's content ends before the size its header gives.
    #[error("entry `{}` ends before its {size} bytes (the archive is truncated)", name.escape_debug())]
    Truncated { name: String, size: u64 },
    /// An absolute name, `..`, an empty component, a NUL, or a name that
    /// normalises to the tree's root.
    #[error("entry `{}` has a name that would leave the tree or is not a clean relative path", name.escape_debug())]
    BadName { name: String },
    #[error("entry `{name}` has a name that is not UTF-8; only UTF-8 names can ship")]
    NotUtf8 { name: String },
    /// A hard link, device, FIFO, sparse file or any other kind than file,
    /// directory and symlink.
    #[error("entry `{}` is a {kind}; only files, directories and symlinks are accepted", name.escape_debug())]
    Special { name: String, kind: String },
    /// A GNU long name, a PAX record and the header say different things
    /// (different readers would see different trees).
    #[error("entry `{}`: {what}", name.escape_debug())]
    Extension { name: String, what: String },
    /// An extension record (GNU long name, PAX) that is oversized, repeated,
    /// malformed or not followed by an entry. `after` is the last entry.
    #[error("an extension record{}: {what}", after_text(after))]
    Record { after: Option<String>, what: String },
    /// haul's own archives never carry PAX records.
    #[error("a PAX extended header{}: haul's archives never have them", after_text(after))]
    Pax { after: Option<String> },
    #[error("entry `{}` appears twice", name.escape_debug())]
    Duplicate { name: String },
    #[error("entry `{}` is not in the manifest", name.escape_debug())]
    Unexpected { name: String },
    #[error("the manifest's entry `{}` is not in the archive", name.escape_debug())]
    Missing { name: String },
    #[error("the manifest lists `{}` twice", name.escape_debug())]
    ManifestDuplicate { name: String },
    #[error("entry `{}` is a {got} where the manifest has a {want}", name.escape_debug())]
    KindMismatch { name: String, want: &'static str, got: &'static str },
    #[error("entry `{}` has mode {got:o} where the manifest has {want:o}", name.escape_debug())]
    ModeMismatch { name: String, want: u32, got: u32 },
    #[error("entry `{}` has {got} bytes where the manifest has {want}", name.escape_debug())]
    SizeMismatch { name: String, want: u64, got: u64 },
    #[error("entry `{}` has other contents than the manifest says (blake3 {got}, expected {want})", name.escape_debug())]
    ContentMismatch { name: String, want: String, got: String },
    #[error("symlink `{}` points to `{}` where the manifest has `{}`", name.escape_debug(), got.escape_debug(), want.escape_debug())]
    LinkMismatch { name: String, want: String, got: String },
    /// Something other than zeros, or too much of it, after the end of the
    /// archive.
    #[error("{what} after the end of the archive")]
    Trailing { what: String },
    #[error("entry `{}` has mode {mode:o}: setuid, setgid and sticky bits are refused", name.escape_debug())]
    PrivilegeBits { name: String, mode: u32 },
    #[error("symlink `{}` points to `{}`, outside the tree: {why}", name.escape_debug(), target.escape_debug())]
    LinkEscapes { name: String, target: String, why: LinkEscape },
    /// A link with an empty target, one with a NUL, or (hard links) one
    /// that is not a clean relative name.
    #[error("link `{}` has an empty or unusable target", name.escape_debug())]
    BadLink { name: String },
    /// An entry whose path goes through a symlink or a file the archive made
    /// earlier (`a -> /etc`, then `a/passwd`).
    #[error("entry `{}` would be written through `{}`, which the archive made a {what}", name.escape_debug(), through.escape_debug())]
    Through { name: String, through: String, what: &'static str },
    /// A file, symlink or hard link where earlier entries placed things
    /// inside a directory of that name.
    #[error("entry `{}` is a {what}, but earlier entries were placed inside a directory of that name", name.escape_debug())]
    Conflict { name: String, what: &'static str },
    #[error("entry `{}` is a hard link to `{}`, which is not a regular file earlier in the archive", name.escape_debug(), target.escape_debug())]
    HardLink { name: String, target: String },
    #[error("more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("more than {limit} bytes of contents (at entry `{}`)", name.escape_debug())]
    TooManyBytes { name: String, limit: u64 },
    #[error("the directory to unpack into is not empty")]
    DestNotEmpty,
}

fn after_text(after: &Option<String>) -> String {
    match after {
        Some(name) => format!(" after entry `{}`", name.escape_debug()),
        None => String::new(),
    }
}

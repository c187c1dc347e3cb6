//! Snapshotting a tree into a manifest, and writing entries into tar
//! streams: the one walk of a tree that ships and the one way an entry is
//! written.

use crate::error::{IoContext, ReleaseError};
use crate::manifest::{Entry, Kind, Manifest};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Walks `root` and writes every entry into a tar stream (compressed with
/// zstd) to `out`, returning the manifest. Refuses what
/// [`snapshot`] refuses. Entries are written in manifest order.
pub fn pack(root: &Path, out: impl Write) -> Result<Manifest, ReleaseError> {
    pack_paths(root, None, out)
}

/// [`pack`], of only the paths `only` names below `root` (when given); see
/// [`snapshot`]. Each file is read twice: once to hash, once to write.
pub fn pack_paths(root: &Path, only: Option<&[String]>, out: impl Write) -> Result<Manifest, ReleaseError> {
    let snap = snapshot(root, only, |rel, full, meta| {
        let mut reader = Hashing {
            inner: fs::File::open(full).at(full)?.take(meta.len() + 1),
            hasher: blake3::Hasher::new(),
            read: 0,
        };
        io::copy(&mut reader, &mut io::sink()).at(full)?;
        if reader.read != meta.len() {
            return Err(ReleaseError::Changed { path: rel.to_string() });
        }
        Ok(reader.hasher.finalize().to_hex().to_string())
    })?;
    let enc = zstd::Encoder::new(out, 3).at(root)?;
    let mut tar = tar::Builder::new(enc);
    for (e, mtime) in snap.manifest.entries.iter().zip(&snap.mtimes) {
        let full = root.join(&e.path);
        append(&mut tar, &e.path, e, *mtime, || fs::File::open(&full).at(&full)).map_err(|e| e.at_path(&full))?;
    }
    tar.into_inner().at(root)?.finish().at(root)?;
    Ok(snap.manifest)
}

/// A tree as it ships: its manifest and each entry's modification time (in
/// the manifest's order), which the archive and the stage stream carry but
/// the content digest leaves out.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub manifest: Manifest,
    pub mtimes: Vec<i64>,
}

/// Walks `root` (or only the paths `only` names below it: each at its own
/// path, a directory with everything below it, and the directories leading
/// to it, which must be directories, not links, so nothing is reached
/// through a link; a path that does not exist is refused by name), and
/// returns what ships. `hash` gives each regular file's blake3 (reading it,
/// or knowing it). Refuses symlinks that lead out of the tree (see
/// [`crate::resolve_link`]), device files, sockets, FIFOs and names that
/// are not UTF-8.
pub(crate) fn snapshot(
    root: &Path,
    only: Option<&[String]>,
    mut hash: impl FnMut(&str, &Path, &fs::Metadata) -> Result<String, ReleaseError>,
) -> Result<Snapshot, ReleaseError> {
    if !root.is_dir() {
        return Err(ReleaseError::NoTree { path: root.to_path_buf() });
    }
    let mut paths = Vec::new();
    match only {
        None => walk(root, root, &mut paths)?,
        Some(only) => select(root, only, &mut paths)?,
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    paths.dedup_by(|a, b| a.0 == b.0);
    // Every link's target is read once and checked against all the others;
    // what ships is the target that was checked.
    let mut links = HashMap::new();
    for (rel, full, is_link, _) in &paths {
        if *is_link {
            let target = fs::read_link(full).at(full)?;
            let target =
                target.into_os_string().into_string().map_err(|_| ReleaseError::LinkNotUtf8 { path: rel.clone() })?;
            links.insert(rel.clone(), target);
        }
    }
    crate::links::check_links(&links)?;

    let mut entries = Vec::with_capacity(paths.len());
    let mut mtimes = Vec::with_capacity(paths.len());
    for (rel, full, _, meta) in paths {
        let meta = match meta {
            Some(m) => m,
            None => fs::symlink_metadata(&full).at(&full)?,
        };
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            // A link that appeared after the check does not ship unchecked.
            let target = links.remove(&rel).ok_or_else(|| ReleaseError::Changed { path: rel.clone() })?;
            Kind::Symlink { target }
        } else if ft.is_file() {
            Kind::File { size: meta.len(), blake3: hash(&rel, &full, &meta)? }
        } else {
            return Err(ReleaseError::Special { path: rel, kind: special(&ft).unwrap_or("special file") });
        };
        entries.push(Entry { path: rel, mode, kind });
        mtimes.push(meta.mtime().max(0));
    }
    // `paths` is sorted, so the manifest's order is this order.
    Ok(Snapshot { manifest: Manifest { entries }, mtimes })
}

/// Appends `e` to `tar` under `name` with `mtime`; a file's bytes come from
/// `open`, and must be exactly the entry's size. The one way haul writes an
/// entry, for archives and stage streams alike.
pub(crate) fn append<W: Write, R: Read>(
    tar: &mut tar::Builder<W>,
    name: &str,
    e: &Entry,
    mtime: i64,
    open: impl FnOnce() -> Result<R, ReleaseError>,
) -> Result<(), Appending> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(e.mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime.max(0) as u64);
    match &e.kind {
        Kind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, name, io::empty()).map_err(Appending::Write)
        }
        Kind::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, name, target).map_err(Appending::Write)
        }
        Kind::File { size, .. } => {
            let src = open().map_err(Appending::Source)?;
            let mut reader = Counted { inner: src.take(*size), read: 0 };
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(*size);
            tar.append_data(&mut h, name, &mut reader).map_err(Appending::Write)?;
            if reader.read != *size {
                return Err(Appending::Source(ReleaseError::Changed { path: e.path.clone() }));
            }
            Ok(())
        }
    }
}

/// Why an entry could not be appended: its source, or the stream written.
#[derive(Debug)]
pub(crate) enum Appending {
    Source(ReleaseError),
    Write(io::Error),
}

impl Appending {
    /// The error, a write failure named by `path`.
    pub(crate) fn at_path(self, path: &Path) -> ReleaseError {
        match self {
            Appending::Source(e) => e,
            Appending::Write(source) => ReleaseError::Io { path: path.to_path_buf(), source },
        }
    }
}

struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A path found: relative to the root, in full, whether it is a link, and
/// its metadata when the walk had it.
type Found = (String, PathBuf, bool, Option<fs::Metadata>);

/// Every path below `dir`, relative to `root`, and whether it is a symlink.
/// Never follows links.
fn walk(root: &Path, dir: &Path, out: &mut Vec<Found>) -> Result<(), ReleaseError> {
    for item in fs::read_dir(dir).at(dir)? {
        let item = item.at(dir)?;
        let full = item.path();
        let rel = full
            .strip_prefix(root)
            .expect("walked below root")
            .to_str()
            .ok_or_else(|| ReleaseError::NotUtf8 { path: full.clone() })?
            .to_string();
        let ft = item.file_type().at(&full)?;
        if let Some(kind) = special(&ft) {
            return Err(ReleaseError::Special { path: rel, kind });
        }
        // Asked of the directory entry (a `fstatat` in the open
        // directory): no walk of the whole path again per file.
        let meta = item.metadata().at(&full)?;
        out.push((rel, full.clone(), ft.is_symlink(), Some(meta)));
        if ft.is_dir() {
            walk(root, &full, out)?;
        }
    }
    Ok(())
}

/// The listed paths, their leading directories and, for a directory,
/// everything below it.
fn select(root: &Path, only: &[String], out: &mut Vec<Found>) -> Result<(), ReleaseError> {
    for entry in only {
        let entry = entry.trim_end_matches('/');
        let parts: Vec<&str> = entry.split('/').collect();
        for i in 1..parts.len() {
            let lead = parts[..i].join("/");
            let full = root.join(&lead);
            let meta = fs::symlink_metadata(&full)
                .map_err(|_| ReleaseError::ShipMissing { path: entry.to_string(), root: root.to_path_buf() })?;
            if !meta.is_dir() {
                return Err(ReleaseError::ShipThrough { path: entry.to_string(), through: lead });
            }
            out.push((lead, full, false, None));
        }
        let full = root.join(entry);
        let meta = fs::symlink_metadata(&full)
            .map_err(|_| ReleaseError::ShipMissing { path: entry.to_string(), root: root.to_path_buf() })?;
        let ft = meta.file_type();
        if let Some(kind) = special(&ft) {
            return Err(ReleaseError::Special { path: entry.to_string(), kind });
        }
        out.push((entry.to_string(), full.clone(), ft.is_symlink(), None));
        if ft.is_dir() {
            walk(root, &full, out)?;
        }
    }
    Ok(())
}

fn special(ft: &fs::FileType) -> Option<&'static str> {
    if ft.is_block_device() || ft.is_char_device() {
        Some("device file")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_fifo() {
        Some("FIFO")
    } else {
        None
    }
}

/// Reads `size` bytes of a source that must hash to `expect`, and fails
/// rather than give the last of them when they do not.
#[derive(Debug)]
pub(crate) struct Checked<R> {
    inner: R,
    hasher: blake3::Hasher,
    expect: String,
    size: u64,
    read: u64,
}

impl<R> Checked<R> {
    pub(crate) fn new(inner: R, size: u64, expect: &str) -> Self {
        Checked { inner, hasher: blake3::Hasher::new(), expect: expect.to_string(), size, read: 0 }
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.size - self.read) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read == self.size && self.hasher.finalize().to_hex().as_str() != self.expect {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the contents do not match their digest"));
        }
        Ok(n)
    }
}

/// A reader that hashes what passes through it.
#[derive(Debug)]
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Hashing { inner, hasher: blake3::Hasher::new(), read: 0 }
    }

    /// The digest of what was read, and how many bytes.
    pub(crate) fn finish(self) -> (String, u64) {
        (self.hasher.finalize().to_hex().to_string(), self.read)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

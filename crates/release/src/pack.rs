//! Snapshotting a tree into a manifest and an archive in one pass.

use crate::error::{IoContext, ReleaseError};
use crate::manifest::{Entry, Kind, Manifest};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Walks `root`, hashing every file while writing it into a tar stream
/// (compressed with zstd) to `out`. Refuses symlinks that lead out of the
/// tree (see [`crate::resolve_link`]), device files, sockets, FIFOs and
/// names that are not UTF-8. Entries are written in manifest order.
pub fn pack(root: &Path, out: impl Write) -> Result<Manifest, ReleaseError> {
    pack_paths(root, None, out)
}

/// [`pack`], of only the paths `only` names below `root` (when given):
/// each at its own path, a directory with everything below it, and the
/// directories leading to it (which must be directories, not links, so
/// nothing is reached through a link). A path that does not exist is
/// refused by name.
pub fn pack_paths(root: &Path, only: Option<&[String]>, out: impl Write) -> Result<Manifest, ReleaseError> {
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
    for (rel, full, is_link) in &paths {
        if *is_link {
            let target = fs::read_link(full).at(full)?;
            let target =
                target.into_os_string().into_string().map_err(|_| ReleaseError::LinkNotUtf8 { path: rel.clone() })?;
            links.insert(rel.clone(), target);
        }
    }
    crate::links::check_links(&links)?;

    let enc = zstd::Encoder::new(out, 3).at(root)?;
    let mut tar = tar::Builder::new(enc);
    let mut entries = Vec::with_capacity(paths.len());
    for (rel, full, _) in paths {
        let meta = fs::symlink_metadata(&full).at(&full)?;
        let mode = meta.permissions().mode() & 0o7777;
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(meta.mtime().max(0) as u64);
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, &rel, io::empty()).at(&full)?;
            Kind::Dir
        } else if ft.is_symlink() {
            // A link that appeared after the check does not ship unchecked.
            let target = links.remove(&rel).ok_or_else(|| ReleaseError::Changed { path: rel.clone() })?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &rel, &target).at(&full)?;
            Kind::Symlink { target }
        } else if ft.is_file() {
            let size = meta.len();
            let file = fs::File::open(&full).at(&full)?;
            let mut reader = Hashing { inner: file.take(size), hasher: blake3::Hasher::new(), read: 0 };
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            tar.append_data(&mut h, &rel, &mut reader).at(&full)?;
            if reader.read != size {
                return Err(ReleaseError::Changed { path: rel });
            }
            Kind::File { size, blake3: reader.hasher.finalize().to_hex().to_string() }
        } else {
            return Err(ReleaseError::Special { path: rel, kind: special(&ft).unwrap_or("special file") });
        };
        entries.push(Entry { path: rel, mode, kind });
    }
    let enc = tar.into_inner().at(root)?;
    enc.finish().at(root)?;
    Ok(Manifest::new(entries))
}

/// Every path below `dir`, relative to `root`, and whether it is a symlink.
/// Never follows links.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, bool)>) -> Result<(), ReleaseError> {
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
        out.push((rel, full.clone(), ft.is_symlink()));
        if ft.is_dir() {
            walk(root, &full, out)?;
        }
    }
    Ok(())
}

/// The listed paths, their leading directories and, for a directory,
/// everything below it.
fn select(root: &Path, only: &[String], out: &mut Vec<(String, PathBuf, bool)>) -> Result<(), ReleaseError> {
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
            out.push((lead, full, false));
        }
        let full = root.join(entry);
        let meta = fs::symlink_metadata(&full)
            .map_err(|_| ReleaseError::ShipMissing { path: entry.to_string(), root: root.to_path_buf() })?;
        let ft = meta.file_type();
        if let Some(kind) = special(&ft) {
            return Err(ReleaseError::Special { path: entry.to_string(), kind });
        }
        out.push((entry.to_string(), full.clone(), ft.is_symlink()));
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

struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

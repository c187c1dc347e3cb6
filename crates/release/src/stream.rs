//! The stage stream: one tar that carries everything a host needs to stage a
//! release, in the order the host applies it.
//!
//! Layout: `drop` (NUL-separated paths to remove from the hard-linked base),
//! the release record (`record`, whole, when there is no base; else
//! `record.patch` against the base's record, and `record.cksum` and
//! `record.sha256`, what POSIX `cksum` and `sha256sum` must say of the
//! result: a host checks with whichever it has), then `tree/<path>` for each entry to
//! send and each of its ancestor directories, read from the cache's blobs
//! (nothing else of the release is read).

use crate::cache::{Contents, Release, Source};
use crate::diff::Diff;
use crate::error::{IoContext, ReleaseError};
use std::collections::HashSet;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes the stage stream for `diff` of `release` (its files read from
/// `contents`) over `base`, the host's newest release.
pub fn write_stage_stream(
    release: &Release,
    base: Option<&Release>,
    contents: &Contents,
    diff: &Diff,
    out: impl Write,
) -> Result<(), ReleaseError> {
    let mut tar = tar::Builder::new(out);
    let mut drop = Vec::new();
    for p in &diff.drop {
        drop.extend_from_slice(p.as_bytes());
        drop.push(0);
    }
    let record = release.to_lines();
    let mut files = vec![("drop", drop)];
    match base {
        None => files.push(("record", record.into_bytes())),
        Some(b) => {
            files.push(("record.patch", release.record_patch(b).into_bytes()));
            files.push(("record.cksum", crate::cksum(record.as_bytes()).into_bytes()));
            files.push(("record.sha256", crate::sha256_hex(record.as_bytes()).into_bytes()));
        }
    }
    for (name, data) in files {
        let data = data.as_slice();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data).map_err(pipe)?;
    }
    if !diff.send.is_empty() {
        // Ancestors travel too: a directory tar creates implicitly gets a
        // default mode, and `cp -a` would copy that mode onto the host's
        // existing directory.
        let mut want: HashSet<&str> = HashSet::new();
        for e in &diff.send {
            let mut p = e.path.as_str();
            want.insert(p);
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !want.insert(parent) {
                    break;
                }
                p = parent;
            }
        }
        match &contents.0 {
            // In manifest order, so a directory comes before what is in it.
            Source::Blobs { .. } => {
                for (i, e) in release.manifest.entries.iter().enumerate() {
                    if want.contains(e.path.as_str()) {
                        let name = format!("tree/{}", e.path);
                        contents.append(&mut tar, &name, e, i).map_err(|a| a.at_path(STREAM.as_ref()))?;
                    }
                }
            }
            Source::Archive(archive) => from_archive(&mut tar, archive, &want)?,
        }
    }
    tar.into_inner().map_err(pipe)?.flush().map_err(pipe)?;
    Ok(())
}

/// The wanted entries of a verified archive (in its order, the manifest's),
/// copied byte for byte.
fn from_archive<W: Write>(tar: &mut tar::Builder<W>, archive: &Path, want: &HashSet<&str>) -> Result<(), ReleaseError> {
    crate::verify::each_verified(archive, |path, entry| {
        if !want.contains(path) {
            return Ok(());
        }
        let mut h = entry.header().clone();
        let name = format!("tree/{path}");
        match h.entry_type() {
            tar::EntryType::Symlink => {
                let target = entry.link_name().at(archive)?.map(|t| t.into_owned()).unwrap_or_default();
                tar.append_link(&mut h, &name, target).map_err(pipe)
            }
            _ => tar.append_data(&mut h, &name, entry).map_err(pipe),
        }
    })
}

const STREAM: &str = "stage stream";

fn pipe(e: io::Error) -> ReleaseError {
    ReleaseError::Io { path: STREAM.into(), source: e }
}

/// Writes the files at `paths` of `release` into `dest` (with their modes
/// and times), for tools that want them as files. From the cache's blobs
/// only: a downloaded archive's contents are read in order, by the stage
/// stream.
pub fn extract_files(
    release: &Release,
    contents: &Contents,
    paths: &HashSet<String>,
    dest: &Path,
) -> Result<(), ReleaseError> {
    for (i, e) in release.manifest.entries.iter().enumerate() {
        if !paths.contains(&e.path) || !matches!(e.kind, crate::Kind::File { .. }) {
            continue;
        }
        let to = dest.join(&e.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        let mut from = contents.open(e)?;
        let mut out = std::fs::File::create(&to).at(&to)?;
        io::copy(&mut from, &mut out).at(&to)?;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(contents.mtime(i).max(0) as u64);
        out.set_modified(when).at(&to)?;
        // Without setuid, setgid or sticky bits, as tar's unpacking leaves them.
        out.set_permissions(std::fs::Permissions::from_mode(e.mode & 0o777)).at(&to)?;
    }
    Ok(())
}

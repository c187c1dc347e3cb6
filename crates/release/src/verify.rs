//! The check an agent makes before a downloaded archive reaches its host's
//! layout: the archive holds exactly the manifest's entries (names, kinds,
//! modes, sizes, link targets, blake3 of every file) and nothing else.
//!
//! The archive is streamed once; file contents are hashed as they are read
//! and never held whole. The reading is strict (see [`crate::members`]):
//! haul's archives have no PAX records and no `./` names, so anything of
//! the kind is refused rather than interpreted.

use crate::ArchiveRefusal as R;
use crate::Manifest;
use crate::error::{IoContext, ReleaseError};
use crate::manifest::{Entry, Kind};
use crate::members::{Is, Member, Rules, read_members, refused};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;

/// Refuses `archive` (a `.tar.zst` as [`crate::pack`] writes it) unless its
/// entries are exactly `manifest`'s, each once.
pub fn verify_archive(archive: &Path, manifest: &Manifest) -> Result<(), ReleaseError> {
    manifest.check_paths()?;
    manifest.check_links()?;
    let mut want: HashMap<&str, &Entry> = HashMap::with_capacity(manifest.entries.len());
    for e in &manifest.entries {
        if want.insert(e.path.as_str(), e).is_some() {
            return Err(refused(archive, R::ManifestDuplicate { name: e.path.clone() }));
        }
    }
    let file = std::fs::File::open(archive).at(archive)?;
    let dec = zstd::Decoder::new(file).at(archive)?;
    let mut seen: HashSet<String> = HashSet::with_capacity(want.len());
    read_members(dec, archive, Rules { strict: true }, |m, entry| {
        if seen.contains(&m.name) {
            return Err(refused(archive, R::Duplicate { name: m.name.clone() }));
        }
        let Some(e) = want.get(m.name.as_str()) else {
            return Err(refused(archive, R::Unexpected { name: m.name.clone() }));
        };
        compare(m, e, entry).map_err(|r| refused(archive, r))?;
        seen.insert(m.name.clone());
        Ok(())
    })?;
    if let Some(e) = manifest.entries.iter().find(|e| !seen.contains(&e.path)) {
        return Err(refused(archive, R::Missing { name: e.path.clone() }));
    }
    Ok(())
}

/// An entry of an archive [`verify_archive`] accepted, positioned at its
/// contents.
pub(crate) type VerifiedEntry<'a> = tar::Entry<'a, Box<dyn Read>>;

/// Hands each entry of `archive`, which [`verify_archive`] accepted, to
/// `each` with its path, in the archive's order: the one walk of a verified
/// archive, for the stage stream and the cache's migration to blobs.
pub(crate) fn each_verified(
    archive: &Path,
    mut each: impl FnMut(&str, &mut VerifiedEntry<'_>) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    let file = std::fs::File::open(archive).at(archive)?;
    let dec: Box<dyn Read> = Box::new(zstd::Decoder::new(file).at(archive)?);
    let mut src = tar::Archive::new(dec);
    for entry in src.entries().at(archive)? {
        let mut entry = entry.at(archive)?;
        let name = entry.path().at(archive)?.to_string_lossy().into_owned();
        each(&name, &mut entry)?;
    }
    Ok(())
}

fn kind_name(is: &Is) -> &'static str {
    match is {
        Is::File => "file",
        Is::Dir => "directory",
        Is::Symlink(_) => "symlink",
        Is::HardLink(_) => "hard link",
    }
}

fn compare(m: &Member, e: &Entry, contents: &mut dyn Read) -> Result<(), R> {
    let name = || m.name.clone();
    let want_kind = match &e.kind {
        Kind::File { .. } => "file",
        Kind::Dir => "directory",
        Kind::Symlink { .. } => "symlink",
    };
    if want_kind != kind_name(&m.is) {
        return Err(R::KindMismatch { name: name(), want: want_kind, got: kind_name(&m.is) });
    }
    if m.mode != e.mode {
        return Err(R::ModeMismatch { name: name(), want: e.mode, got: m.mode });
    }
    match (&e.kind, &m.is) {
        (Kind::Symlink { target }, Is::Symlink(got)) if target != got => {
            Err(R::LinkMismatch { name: name(), want: target.clone(), got: got.clone() })
        }
        (Kind::File { size, blake3 }, Is::File) => {
            if *size != m.size {
                return Err(R::SizeMismatch { name: name(), want: *size, got: m.size });
            }
            let mut hasher = blake3::Hasher::new();
            let read = io::copy(contents, &mut hasher).map_err(|source| R::Corrupt { after: Some(name()), source })?;
            if read != *size {
                return Err(R::Truncated { name: name(), size: *size });
            }
            let got = hasher.finalize().to_hex().to_string();
            if &got != blake3 {
                return Err(R::ContentMismatch { name: name(), want: blake3.clone(), got });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

//! Releases from archives another tool made (`tar -czf site.tgz src/*`):
//! unpacked by haul's own reader into a scratch directory, then packed like
//! any build. The reader refuses, naming the entry, anything that could
//! write outside the tree or smuggle privilege: absolute or `..` names,
//! device files and FIFOs, links that escape, setuid/setgid bits, more bytes
//! or entries than the limits.
//!
//! The `tar` crate's `unpack` is not used: every member goes through
//! [`crate::members`] (the same careful reading the verifier uses) and is
//! made here, with what the archive made so far tracked by name. Nothing is
//! ever written through a symlink because no symlink exists on disk until
//! every file is written: links are collected, judged together by
//! [`crate::resolve_link`] (a later link can change where an earlier one
//! leads), and made last. A member below a name the archive made a symlink
//! or a file is refused outright. Hard links are accepted only to a regular
//! file earlier in the archive, and become a copy of it (a release is a tree
//! of files, not of inodes). Directory modes are applied at the end, so a
//! read-only directory does not stop its own contents.

use crate::ArchiveRefusal as R;
use crate::cache::{Release, ReleaseCache};
use crate::error::{IoContext, ReleaseError};
use crate::members::{Is, Member, Rules, read_members, refused};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Bounds on what an imported archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Total bytes of file contents.
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits { max_bytes: 16 << 30, max_entries: 1_000_000 }
    }
}

/// What the archive made at a name so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    /// A directory made because something was placed inside it.
    Implied,
    Dir,
    File,
    Symlink,
}

/// Unpacks `archive` (`.tar`, `.tar.gz`/`.tgz` or `.tar.zst`, known by its
/// first bytes) into `dest`, which must be empty (it is made if missing).
/// On error nothing is left in `dest`.
pub fn unpack_foreign(archive: &Path, dest: &Path, limits: ImportLimits) -> Result<(), ReleaseError> {
    let made_dest = match fs::read_dir(dest) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(refused(archive, R::DestNotEmpty));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir(dest).at(dest)?;
            true
        }
        Err(e) => return Err(ReleaseError::Io { path: dest.to_path_buf(), source: e }),
    };
    let result = unpack(archive, dest, limits);
    if result.is_err() {
        if made_dest {
            let _ = remove_tree(dest);
        } else if let Ok(rd) = fs::read_dir(dest) {
            for item in rd.flatten() {
                let path = item.path();
                let _ = if item.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
    }
    result
}

fn unpack(archive: &Path, dest: &Path, limits: ImportLimits) -> Result<(), ReleaseError> {
    let file = fs::File::open(archive).at(archive)?;
    let tar = crate::foreign::open_tar(file)
        .map_err(|source| refused(archive, R::Corrupt { after: None, source }))?
        .map_err(|r| refused(archive, r))?;
    let mut u = Unpacker {
        archive,
        dest,
        limits,
        made: HashMap::new(),
        links: BTreeMap::new(),
        dirs: Vec::new(),
        entries: 0,
        bytes: 0,
    };
    read_members(tar, archive, Rules { strict: false }, |m, contents| u.member(m, contents))?;
    u.finish()
}

struct Unpacker<'a> {
    archive: &'a Path,
    dest: &'a Path,
    limits: ImportLimits,
    made: HashMap<String, Made>,
    /// Symlinks to make once every file is written: name to target.
    links: BTreeMap<String, String>,
    /// Directories and the modes they get at the end.
    dirs: Vec<(String, u32)>,
    entries: u64,
    bytes: u64,
}

impl Unpacker<'_> {
    fn refuse(&self, r: R) -> ReleaseError {
        refused(self.archive, r)
    }

    fn member(&mut self, m: &Member, contents: &mut dyn Read) -> Result<(), ReleaseError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.refuse(R::TooManyEntries { limit: self.limits.max_entries }));
        }
        let name = m.name.clone();
        let mode = m.mode & 0o7777;
        if mode & 0o7000 != 0 && !matches!(m.is, Is::Symlink(_)) {
            return Err(self.refuse(R::PrivilegeBits { name, mode }));
        }
        self.parents(&name)?;
        let what = match &m.is {
            Is::Dir => "directory",
            Is::File => "file",
            Is::Symlink(_) => "symlink",
            Is::HardLink(_) => "hard link",
        };
        match (self.made.get(&name), &m.is) {
            (None, _) => {}
            (Some(Made::Implied), Is::Dir) => {}
            (Some(Made::Implied), _) => return Err(self.refuse(R::Conflict { name, what })),
            (Some(_), _) => return Err(self.refuse(R::Duplicate { name })),
        }
        let path = self.dest.join(&name);
        match &m.is {
            Is::Dir => {
                if self.made.insert(name.clone(), Made::Dir).is_none() {
                    fs::create_dir(&path).at(&path)?;
                }
                self.dirs.push((name, mode & 0o777));
            }
            Is::Symlink(target) => {
                self.made.insert(name.clone(), Made::Symlink);
                self.links.insert(name, target.clone());
            }
            Is::File => {
                self.room(&name, m.size)?;
                let mut out = create(&path)?;
                let mut buf = vec![0u8; 64 << 10];
                let mut read = 0u64;
                loop {
                    let n = contents
                        .read(&mut buf)
                        .map_err(|source| self.refuse(R::Corrupt { after: Some(name.clone()), source }))?;
                    if n == 0 {
                        break;
                    }
                    read += n as u64;
                    // Counted as read, whatever the header said.
                    self.room(&name, n as u64)?;
                    self.bytes += n as u64;
                    out.write_all(&buf[..n]).at(&path)?;
                }
                if read != m.size {
                    return Err(self.refuse(R::Truncated { name, size: m.size }));
                }
                out.set_permissions(fs::Permissions::from_mode(mode & 0o777)).at(&path)?;
                self.made.insert(name, Made::File);
            }
            Is::HardLink(target) => {
                if self.made.get(target) != Some(&Made::File) {
                    return Err(self.refuse(R::HardLink { name, target: target.clone() }));
                }
                let from = self.dest.join(target);
                let size = fs::symlink_metadata(&from).at(&from)?.len();
                self.room(&name, size)?;
                self.bytes += size;
                let mut src = fs::File::open(&from).at(&from)?;
                let mut out = create(&path)?;
                std::io::copy(&mut src, &mut out).at(&path)?;
                out.set_permissions(fs::Permissions::from_mode(mode & 0o777)).at(&path)?;
                self.made.insert(name, Made::File);
            }
        }
        Ok(())
    }

    /// Refuses more than the byte limit.
    fn room(&self, name: &str, more: u64) -> Result<(), ReleaseError> {
        if self.bytes.saturating_add(more) > self.limits.max_bytes {
            return Err(self.refuse(R::TooManyBytes { name: name.to_string(), limit: self.limits.max_bytes }));
        }
        Ok(())
    }

    /// Makes the directories `name` lies in, refusing a path through a name
    /// the archive made a file or a symlink. Each directory made counts as
    /// an entry (deep names cannot make more than the limit).
    fn parents(&mut self, name: &str) -> Result<(), ReleaseError> {
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            let parent = &name[..at + i];
            match self.made.get(parent) {
                Some(Made::Dir | Made::Implied) => {}
                Some(made) => {
                    let what = if *made == Made::File { "file" } else { "symlink" };
                    return Err(self.refuse(R::Through { name: name.into(), through: parent.into(), what }));
                }
                None => {
                    self.entries += 1;
                    if self.entries > self.limits.max_entries {
                        return Err(self.refuse(R::TooManyEntries { limit: self.limits.max_entries }));
                    }
                    let path = self.dest.join(parent);
                    fs::create_dir(&path).at(&path)?;
                    self.made.insert(parent.to_string(), Made::Implied);
                }
            }
            at += i + 1;
        }
        Ok(())
    }

    /// Judges every link against all the others, makes them, then gives
    /// directories their modes (deepest first; implied ones get 0755).
    fn finish(mut self) -> Result<(), ReleaseError> {
        for (name, target) in &self.links {
            crate::resolve_link(name, target, |p| self.links.get(p).map(String::as_str))
                .map_err(|why| self.refuse(R::LinkEscapes { name: name.clone(), target: target.clone(), why }))?;
        }
        for (name, target) in &self.links {
            let path = self.dest.join(name);
            std::os::unix::fs::symlink(target, &path).at(&path)?;
        }
        for (name, made) in &self.made {
            if *made == Made::Implied {
                self.dirs.push((name.clone(), 0o755));
            }
        }
        self.dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (name, mode) in &self.dirs {
            let path = self.dest.join(name);
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).at(&path)?;
        }
        Ok(())
    }
}

/// A new file, never one that exists: `O_EXCL` also refuses a symlink in
/// its place, dangling or not.
fn create(path: &Path) -> Result<fs::File, ReleaseError> {
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).at(path)
}

/// Removes everything below `dir` (and `dir`), first giving directories
/// owner permissions so a read-only one does not stop the removal.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(dir) {
            for item in rd.flatten() {
                if item.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&item.path());
                }
            }
        }
    }
    open_up(dir);
    fs::remove_dir_all(dir)
}

/// The scratch directory of one import, removed when dropped (on success,
/// error or panic alike), and the lock file held while it lives.
struct Scratch {
    dir: PathBuf,
    lock: PathBuf,
    /// Holds the lock (the kernel drops it when the process dies).
    _held: fs::File,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove_tree(&self.dir);
        let _ = fs::remove_file(&self.lock);
    }
}

/// How old an import's scratch directory must be, as well as not held,
/// before another import removes it.
pub const STALE_SCRATCH: std::time::Duration = std::time::Duration::from_secs(5 * 60);

const SCRATCH_PREFIX: &str = ".import-";

impl Scratch {
    /// Takes the lock, then names the directory (made by the unpacker).
    fn new(dir: &Path) -> Result<Scratch, ReleaseError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{SCRATCH_PREFIX}{}-{nanos}", std::process::id());
        let lock = dir.join(format!("{name}.lock"));
        let held = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&lock).at(&lock)?;
        held.lock().at(&lock)?;
        Ok(Scratch { dir: dir.join(name), lock, _held: held })
    }
}

/// Removes what imports killed before they could clean up left in `dir`:
/// scratch directories whose lock nobody holds (the kernel releases a
/// killed process's lock) and that were not touched for
/// [`STALE_SCRATCH`], with their lock files. A directory without its lock
/// file is judged by its age alone.
fn remove_stale_scratch(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for item in rd.flatten() {
        let Ok(name) = item.file_name().into_string() else { continue };
        if !name.starts_with(SCRATCH_PREFIX) || name.ends_with(".lock") {
            continue;
        }
        // Never follow a link planted in the cache: only real directories.
        let Ok(meta) = fs::symlink_metadata(item.path()) else { continue };
        let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= STALE_SCRATCH);
        if !meta.is_dir() || !old {
            continue;
        }
        let lock = dir.join(format!("{name}.lock"));
        let free = match fs::OpenOptions::new().write(true).open(&lock) {
            Ok(f) => f.try_lock().is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if free && remove_tree(&item.path()).is_ok() {
            let _ = fs::remove_file(&lock);
        }
    }
}

impl ReleaseCache {
    /// Imports `archive` (see [`unpack_foreign`]) as a release of `app`: it
    /// is unpacked into a scratch directory under the cache and built like
    /// any tree; the same contents give the same release (`true` when it was
    /// already cached). What earlier imports that were killed left there is
    /// removed first (see [`STALE_SCRATCH`]).
    pub fn import(
        &self,
        app: &str,
        archive: &Path,
        built_by: &str,
        limits: ImportLimits,
    ) -> Result<(Release, bool), ReleaseError> {
        let dir = self.dir().join(app);
        fs::create_dir_all(&dir).at(&dir)?;
        remove_stale_scratch(&dir);
        let scratch = Scratch::new(&dir)?;
        unpack_foreign(archive, &scratch.dir, limits)?;
        self.snapshot_into(app, &scratch.dir, None, built_by, None, false).map(crate::Built::into_pair)
    }
}

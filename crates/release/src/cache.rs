//! The local release cache: per app, `<id>.record` (the release record
//! with its manifest, as on hosts) and `<id>.times` (each entry's
//! modification time), with every file's contents kept once in the
//! cache's blobs (see [`crate::blobs`]). A release's archive,
//! `<id>.tar.zst`, is written from the blobs only when something asks for
//! one (spooling to a store). A cache an earlier haul left (one archive per
//! release) is taken into blobs the first time a release is read.

use crate::blobs::Blobs;
use crate::error::{IoContext, ReleaseError};
use crate::index::{Index, Stat};
use crate::manifest::{Entry, Kind, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A built release: who, when, from what, and every path in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Release {
    pub app: String,
    pub id: String,
    pub digest: String,
    pub created: String,
    pub built_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub manifest: Manifest,
}

/// What [`ReleaseCache::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The releases, oldest first.
    pub releases: Vec<String>,
    /// Blobs no release needed any more, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
}

/// Releases built on this machine.
#[derive(Debug, Clone)]
pub struct ReleaseCache {
    dir: PathBuf,
    racy: std::time::Duration,
}

/// What a build did: the release, whether it was one already cached (the
/// same tree), and how much of the tree it had to read.
#[derive(Debug, Clone)]
pub struct Built {
    pub release: Release,
    pub reused: bool,
    /// Files read (the rest were known from the last build's index).
    pub read_files: usize,
    pub read_bytes: u64,
    /// Contents the cache did not have yet, and their bytes.
    pub new_blobs: usize,
    pub new_bytes: u64,
}

impl Built {
    /// The release, and whether it was reused.
    pub fn into_pair(self) -> (Release, bool) {
        (self.release, self.reused)
    }
}

impl ReleaseCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ReleaseCache { dir: dir.into(), racy: crate::index::RACY }
    }

    /// How recently before a build a file may have been touched and still
    /// be trusted unread by the next one (see [`crate::index`]); shorter
    /// than the default only where timestamps are known to be fine.
    pub fn with_racy_window(self, racy: std::time::Duration) -> Self {
        ReleaseCache { racy, ..self }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn app_dir(&self, app: &str) -> PathBuf {
        self.dir.join(app)
    }

    pub fn archive_path(&self, app: &str, id: &str) -> PathBuf {
        self.app_dir(app).join(format!("{id}.tar.zst"))
    }

    fn record_path(&self, app: &str, id: &str) -> PathBuf {
        self.app_dir(app).join(format!("{id}.record"))
    }

    /// Snapshots `tree` into the cache. An identical tree already cached
    /// for `app` is reused: same content, same release. Returns the release
    /// and whether it was reused.
    pub fn build(
        &self,
        app: &str,
        tree: &Path,
        built_by: &str,
        revision: Option<String>,
    ) -> Result<(Release, bool), ReleaseError> {
        self.build_in(app, tree, None, built_by, revision).map(Built::into_pair)
    }

    /// [`ReleaseCache::build`] of only the paths `only` lists below `tree`
    /// (see [`crate::pack_paths`]), saying what it read and wrote. Only
    /// files whose contents are not in the cache yet are written, and only
    /// files that changed since the last build of this tree are read (see
    /// [`crate::index`]).
    pub fn build_in(
        &self,
        app: &str,
        tree: &Path,
        only: Option<&[String]>,
        built_by: &str,
        revision: Option<String>,
    ) -> Result<Built, ReleaseError> {
        self.snapshot_into(app, tree, only, built_by, revision, true)
    }

    /// A build, with or without the app's index (a tree that exists once,
    /// as an import's scratch directory, has nothing to learn for next
    /// time, and must not replace what the app's own tree taught).
    pub(crate) fn snapshot_into(
        &self,
        app: &str,
        tree: &Path,
        only: Option<&[String]>,
        built_by: &str,
        revision: Option<String>,
        indexed: bool,
    ) -> Result<Built, ReleaseError> {
        let _lock = self.lock(false)?;
        let dir = self.app_dir(app);
        fs::create_dir_all(&dir).at(&dir)?;
        let tree_key = fs::canonicalize(tree).unwrap_or_else(|_| tree.to_path_buf());
        let index_path = self.index_path(app);
        let mut index = if indexed { Index::load(&index_path, &tree_key, self.racy) } else { Index::default() };
        let blobs = self.blobs();
        let (mut read_files, mut read_bytes, mut new_blobs, mut new_bytes) = (0, 0, 0, 0);
        let snap = crate::pack::snapshot(tree, only, |rel, full, meta| {
            let stat = Stat::of(meta);
            // An index names only blobs that are there: prune and a reader
            // that finds one missing or damaged remove the index.
            if let Some(known) = index.hash(rel, &stat) {
                let known = known.to_string();
                index.learn(rel, stat, &known);
                return Ok(known);
            }
            let mut file = fs::File::open(full).at(full)?.take(meta.len() + 1);
            let (blake3, read, new) = blobs.put(&mut file, full)?;
            read_files += 1;
            read_bytes += read;
            if new {
                new_blobs += 1;
                new_bytes += read;
            }
            if read != meta.len() {
                return Err(ReleaseError::Changed { path: rel.to_string() });
            }
            index.learn(rel, stat, &blake3);
            Ok(blake3)
        })?;
        if indexed {
            index.save(&index_path, &tree_key);
        }
        let digest = snap.manifest.digest();
        let built = |release, reused| Built { release, reused, read_files, read_bytes, new_blobs, new_bytes };
        if let Some(existing) = self.find_digest(app, &digest)? {
            // Built again: the newest for pruning. Its contents are all in
            // the blobs now; times lost (with no old archive) are these.
            let record = self.record_path(app, &existing.id);
            fs::File::options()
                .write(true)
                .open(&record)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                .at(&record)?;
            let times = self.times_path(app, &existing.id);
            if !times.exists() && !self.archive_path(app, &existing.id).exists() {
                write_atomic(&times, times_text(&snap.mtimes).as_bytes())?;
            }
            return Ok(built(existing, true));
        }
        let id = crate::new_release_id(&digest);
        let release = Release {
            app: app.to_string(),
            id: id.clone(),
            digest,
            created: jiff::Timestamp::now().to_string(),
            built_by: built_by.to_string(),
            revision,
            manifest: snap.manifest,
        };
        // The times first: a record is what makes a release cached.
        write_atomic(&self.times_path(app, &id), times_text(&snap.mtimes).as_bytes())?;
        write_atomic(&self.record_path(app, &id), release.to_lines().as_bytes())?;
        Ok(built(release, false))
    }

    /// What reads the contents of cached release `id` of `app`.
    pub fn contents(&self, release: &Release) -> Result<Contents, ReleaseError> {
        let path = self.times_path(&release.app, &release.id);
        let mtimes = match fs::read_to_string(&path) {
            Ok(text) => parse_times(&text, release.manifest.entries.len())
                .ok_or_else(|| ReleaseError::Corrupt { path: path.clone(), message: "unreadable times".into() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.migrate(release)?,
            Err(e) => return Err(ReleaseError::Io { path, source: e }),
        };
        let index = self.index_path(&release.app);
        Ok(Contents(Source::Blobs { blobs: self.blobs(), mtimes: std::sync::Arc::new(mtimes), index }))
    }

    /// The release's archive (`.tar.zst`, as a pull agent downloads it),
    /// written from its blobs the first time it is asked for and kept, so
    /// the same release is always the same bytes.
    pub fn archive(&self, release: &Release) -> Result<PathBuf, ReleaseError> {
        let path = self.archive_path(&release.app, &release.id);
        if path.exists() {
            return Ok(path);
        }
        let contents = self.contents(release)?;
        let _lock = self.lock(false)?;
        let tmp = temporary(&path);
        let written = (|| {
            let file =
                fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).at(&tmp)?;
            let out = std::io::BufWriter::new(file);
            let mut tar = tar::Builder::new(zstd::Encoder::new(out, 3).at(&tmp)?);
            for (i, e) in release.manifest.entries.iter().enumerate() {
                contents.append(&mut tar, &e.path, e, i).map_err(|a| a.at_path(&tmp))?;
            }
            let out = tar.into_inner().at(&tmp)?.finish().at(&tmp)?;
            out.into_inner().map_err(|e| e.into_error()).at(&tmp)?.sync_all().at(&tmp)?;
            fs::rename(&tmp, &path).at(&path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }

    /// Removes the cached releases of `app` other than the `newest` most
    /// recently built (a build of a tree that gives an older release again
    /// counts as building it) and those named in `keep`, then every blob
    /// that no release of any app in the cache still needs. Holds the
    /// cache's lock throughout, so no build is between writing a blob and
    /// writing the record that needs it.
    pub fn prune(&self, app: &str, newest: usize, keep: &HashSet<String>) -> Result<Pruned, ReleaseError> {
        let _lock = self.lock(true)?;
        let mut ids: Vec<(std::time::SystemTime, String)> = Vec::new();
        for id in self.ids(app)? {
            let path = self.record_path(app, &id);
            ids.push((fs::metadata(&path).and_then(|m| m.modified()).at(&path)?, id));
        }
        ids.sort();
        let mut pruned = Pruned::default();
        let cut = ids.len().saturating_sub(newest);
        for (_, id) in &ids[..cut] {
            if keep.contains(id) {
                continue;
            }
            // The record first: without it the release is not cached.
            for path in [self.record_path(app, id), self.times_path(app, id), self.archive_path(app, id)] {
                remove_if_there(&path)?;
            }
            pruned.releases.push(id.clone());
        }
        pruned.releases.sort();
        let mut needed = HashSet::new();
        for app in self.apps()? {
            for id in self.ids(&app)? {
                let path = self.record_path(&app, &id);
                let text = fs::read_to_string(&path).at(&path)?;
                let r = Release::from_lines(&text).map_err(|message| ReleaseError::Corrupt { path, message })?;
                needed.extend(r.manifest.entries.into_iter().filter_map(|e| match e.kind {
                    Kind::File { blake3, .. } => Some(blake3),
                    _ => None,
                }));
            }
        }
        // Under the exclusive lock no build, archive or migration is under
        // way, so every temporary file is one a killed process left.
        self.blobs().remove_temporaries()?;
        for app in self.apps()? {
            remove_temporaries(&self.app_dir(&app))?;
            self.remove_orphan_times(&app)?;
        }
        let blobs = self.blobs();
        for blob in blobs.all()? {
            if !needed.contains(&blob) {
                pruned.bytes += fs::symlink_metadata(blobs.path(&blob)?).map(|m| m.len()).unwrap_or(0);
                blobs.remove(&blob)?;
                pruned.blobs += 1;
            }
        }
        if pruned.blobs > 0 {
            // An index may name what is gone; the next builds read afresh.
            for app in self.apps()? {
                remove_if_there(&self.index_path(&app))?;
            }
        }
        Ok(pruned)
    }

    /// Removes the `<id>.times` of releases without a record (a build
    /// killed between the two).
    fn remove_orphan_times(&self, app: &str) -> Result<(), ReleaseError> {
        let dir = self.app_dir(app);
        for item in fs::read_dir(&dir).at(&dir)? {
            let name = item.at(&dir)?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".times"))
                && !self.record_path(app, id).exists()
            {
                remove_if_there(&dir.join(&name))?;
            }
        }
        Ok(())
    }

    /// The apps with a directory in the cache (a link to a directory
    /// counts: its releases need their blobs as much as any).
    fn apps(&self) -> Result<Vec<String>, ReleaseError> {
        let mut apps = Vec::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(apps),
            Err(e) => return Err(ReleaseError::Io { path: self.dir.clone(), source: e }),
        };
        for item in rd {
            let item = item.at(&self.dir)?;
            if let Some(name) = item.file_name().to_str()
                && !name.starts_with('.')
                && fs::metadata(item.path()).at(item.path())?.is_dir()
            {
                apps.push(name.to_string());
            }
        }
        Ok(apps)
    }

    /// The cache's lock: shared while a build writes, exclusive while a
    /// prune removes.
    fn lock(&self, exclusive: bool) -> Result<fs::File, ReleaseError> {
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let path = self.dir.join(".lock");
        let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).at(&path)?;
        if exclusive { file.lock() } else { file.lock_shared() }.at(&path)?;
        Ok(file)
    }

    fn blobs(&self) -> Blobs {
        Blobs::new(&self.dir)
    }

    /// The build index of `app` (see [`crate::index`]).
    fn index_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join(".index")
    }

    fn times_path(&self, app: &str, id: &str) -> PathBuf {
        self.app_dir(app).join(format!("{id}.times"))
    }

    /// A release cached by an earlier haul, as one archive: its files go
    /// into blobs (each checked against the manifest) and its times are
    /// written, once.
    fn migrate(&self, release: &Release) -> Result<Vec<i64>, ReleaseError> {
        let archive = self.archive_path(&release.app, &release.id);
        if !archive.exists() {
            return Err(ReleaseError::NotCached {
                app: release.app.clone(),
                id: release.id.clone(),
                dir: self.app_dir(&release.app),
            });
        }
        let _lock = self.lock(false)?;
        crate::verify_archive(&archive, &release.manifest)?;
        let blobs = self.blobs();
        let at: std::collections::HashMap<&str, usize> =
            release.manifest.entries.iter().enumerate().map(|(i, e)| (e.path.as_str(), i)).collect();
        let mut mtimes = vec![0; release.manifest.entries.len()];
        crate::verify::each_verified(&archive, |name, entry| {
            let i = *at.get(name).ok_or_else(|| ReleaseError::Changed { path: name.to_string() })?;
            mtimes[i] = entry.header().mtime().at(&archive)? as i64;
            if let Kind::File { blake3, .. } = &release.manifest.entries[i].kind {
                let (got, _, _) = blobs.put(entry, &archive)?;
                if got != *blake3 {
                    return Err(ReleaseError::Changed { path: name.to_string() });
                }
            }
            Ok(())
        })?;
        write_atomic(&self.times_path(&release.app, &release.id), times_text(&mtimes).as_bytes())?;
        Ok(mtimes)
    }

    /// The cached release `id` of `app`.
    pub fn get(&self, app: &str, id: &str) -> Result<Release, ReleaseError> {
        let rec = self.record_path(app, id);
        if !crate::is_release_id(id) || !rec.exists() {
            return Err(ReleaseError::NotCached { app: app.into(), id: id.into(), dir: self.app_dir(app) });
        }
        let text = fs::read_to_string(&rec).at(&rec)?;
        let r = Release::from_lines(&text).map_err(|message| ReleaseError::Corrupt { path: rec.clone(), message })?;
        r.manifest.check_paths()?;
        r.manifest.check_links()?;
        Ok(r)
    }

    /// Ids of every cached release of `app`, oldest first.
    pub fn ids(&self, app: &str) -> Result<Vec<String>, ReleaseError> {
        let dir = self.app_dir(app);
        let mut ids = Vec::new();
        match fs::read_dir(&dir) {
            Ok(rd) => {
                for item in rd {
                    let name = item.at(&dir)?.file_name();
                    let name = name.to_string_lossy();
                    if let Some(id) = name.strip_suffix(".record")
                        && crate::is_release_id(id)
                    {
                        ids.push(id.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ReleaseError::Io { path: dir, source: e });
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The newest cached release of `app`, if any.
    pub fn latest(&self, app: &str) -> Result<Option<Release>, ReleaseError> {
        match self.ids(app)?.last() {
            Some(id) => self.get(app, id).map(Some),
            None => Ok(None),
        }
    }

    fn find_digest(&self, app: &str, digest: &str) -> Result<Option<Release>, ReleaseError> {
        let suffix = format!("-{}", &digest[..12]);
        for id in self.ids(app)?.into_iter().rev() {
            if id.ends_with(&suffix) {
                let r = self.get(app, &id)?;
                if r.digest == digest {
                    return Ok(Some(r));
                }
            }
        }
        Ok(None)
    }
}

/// Where a release's file contents are read from: the cache's blobs with
/// the entries' times, or an archive (a pull agent's verified download,
/// its only copy). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Contents(pub(crate) Source);

#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `index`: the build index of the release's app.
    Blobs {
        blobs: Blobs,
        mtimes: std::sync::Arc<Vec<i64>>,
        index: PathBuf,
    },
    Archive(PathBuf),
}

impl Contents {
    /// The contents of the archive at `path`, which must hold the release's
    /// entries (as [`crate::verify_archive`] checks).
    pub fn archive(path: impl Into<PathBuf>) -> Contents {
        Contents(Source::Archive(path.into()))
    }

    /// Appends entry `i` of the release (`e`) to `tar` under `name`, from
    /// the blobs (not for an archive's contents: those are read in order).
    pub(crate) fn append<W: std::io::Write>(
        &self,
        tar: &mut tar::Builder<W>,
        name: &str,
        e: &Entry,
        i: usize,
    ) -> Result<(), crate::pack::Appending> {
        crate::pack::append(tar, name, e, self.mtime(i), || self.open(e))
    }

    /// The file entry `e`'s contents, from the blobs.
    pub(crate) fn open(&self, e: &Entry) -> Result<crate::blobs::BlobReader, ReleaseError> {
        match (&self.0, &e.kind) {
            (Source::Blobs { blobs, index, .. }, Kind::File { size, blake3 }) => blobs.open(blake3, *size, index),
            (Source::Archive(archive), _) => Err(ReleaseError::Corrupt {
                path: archive.clone(),
                message: format!("`{}` cannot be read alone: an archive's files are read in order", e.path),
            }),
            (Source::Blobs { .. }, _) => Err(ReleaseError::BadPath { path: e.path.clone() }),
        }
    }

    /// Entry `i`'s modification time (from the blobs' times).
    pub(crate) fn mtime(&self, i: usize) -> i64 {
        match &self.0 {
            Source::Blobs { mtimes, .. } => mtimes.get(i).copied().unwrap_or(0),
            Source::Archive(_) => 0,
        }
    }
}

/// Removes the files in `dir` whose name says they were being written
/// (`….tmp-<pid>-<n>`, as [`temporary`] names them, or
/// the `.packing-<pid>.tar.zst` and `<id>.record.tmp` of an earlier haul).
pub(crate) fn remove_temporaries(dir: &Path) -> Result<(), ReleaseError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ReleaseError::Io { path: dir.to_path_buf(), source: e }),
    };
    for item in rd {
        let item = item.at(dir)?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        let temporary = name.contains(".tmp-") || name.ends_with(".tmp") || name.starts_with(".packing-");
        if temporary && item.file_type().at(item.path())?.is_file() {
            fs::remove_file(item.path()).at(item.path())?;
        }
    }
    Ok(())
}

/// A name beside `path` to write it under first: `<path>.tmp-<pid>-<n>`,
/// its own for each writer, threads of one process included.
pub(crate) fn temporary(path: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    PathBuf::from(tmp)
}

/// Removes `path`; one already gone is fine.
pub(crate) fn remove_if_there(path: &Path) -> Result<(), ReleaseError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ReleaseError::Io { path: path.to_path_buf(), source: e })
        }
        _ => Ok(()),
    }
}

/// Writes `path` by a rename of a finished temporary file beside it.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ReleaseError> {
    let tmp = temporary(path);
    fs::write(&tmp, data).at(&tmp)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        ReleaseError::Io { path: path.to_path_buf(), source: e }
    })
}

fn times_text(mtimes: &[i64]) -> String {
    let mut s = String::with_capacity(mtimes.len() * 11);
    for t in mtimes {
        s.push_str(&t.to_string());
        s.push('\n');
    }
    s
}

fn parse_times(text: &str, entries: usize) -> Option<Vec<i64>> {
    let times: Vec<i64> = text.lines().map(|l| l.parse().ok()).collect::<Option<_>>()?;
    (times.len() == entries).then_some(times)
}

//! The local release cache: `<cache>/<app>/<id>.tar.zst` beside
//! `<id>.record` (the release record with its manifest, as on hosts).

use crate::error::{IoContext, ReleaseError};
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::fs;
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

/// Releases built on this machine.
#[derive(Debug, Clone)]
pub struct ReleaseCache {
    dir: PathBuf,
}

impl ReleaseCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ReleaseCache { dir: dir.into() }
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

    /// Packs `tree` into the cache. An identical tree already cached for
    /// `app` is reused: same content, same release.
    pub fn build(
        &self,
        app: &str,
        tree: &Path,
        built_by: &str,
        revision: Option<String>,
    ) -> Result<(Release, bool), ReleaseError> {
        self.build_paths(app, tree, None, built_by, revision)
    }

    /// [`ReleaseCache::build`] of only the paths `only` lists below `tree`
    /// (see [`crate::pack_paths`]).
    pub fn build_paths(
        &self,
        app: &str,
        tree: &Path,
        only: Option<&[String]>,
        built_by: &str,
        revision: Option<String>,
    ) -> Result<(Release, bool), ReleaseError> {
        let dir = self.app_dir(app);
        fs::create_dir_all(&dir).at(&dir)?;
        let tmp = dir.join(format!(".packing-{}.tar.zst", std::process::id()));
        let file = fs::File::create(&tmp).at(&tmp)?;
        let manifest = match crate::pack_paths(tree, only, std::io::BufWriter::new(file)) {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let digest = manifest.digest();
        if let Some(existing) = self.find_digest(app, &digest)? {
            fs::remove_file(&tmp).at(&tmp)?;
            return Ok((existing, true));
        }
        let id = crate::new_release_id(&digest);
        let release = Release {
            app: app.to_string(),
            id: id.clone(),
            digest,
            created: jiff::Timestamp::now().to_string(),
            built_by: built_by.to_string(),
            revision,
            manifest,
        };
        fs::rename(&tmp, self.archive_path(app, &id)).at(&tmp)?;
        let rec = self.record_path(app, &id);
        let rec_tmp = rec.with_extension("record.tmp");
        fs::write(&rec_tmp, release.to_lines()).at(&rec_tmp)?;
        fs::rename(&rec_tmp, &rec).at(&rec)?;
        Ok((release, false))
    }

    /// The cached release `id` of `app`.
    pub fn get(&self, app: &str, id: &str) -> Result<Release, ReleaseError> {
        let rec = self.record_path(app, id);
        if !crate::is_release_id(id) || !rec.exists() || !self.archive_path(app, id).exists() {
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
                        && self.archive_path(app, id).exists()
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

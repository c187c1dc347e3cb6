//! Release records during a run: read once per engine from the cache (a
//! record lists every file, and a deploy needs it in several places), else
//! from the host; what changed since a host's live release; and the upload
//! that sends only what a host lacks.

use crate::engine::state::HostRun;
use crate::{Engine, Progress};
use haul_host::{HostError, SharedPath, StageReport};
use haul_release::{Contents, Release};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One value per release id, made once for the life of an engine: the
/// parsed records and the content readers a deploy asks for on every host.
pub(super) struct Memo<T>(Mutex<HashMap<String, T>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<T: Clone> Memo<T> {
    fn get(&self, id: &str) -> Option<T> {
        self.0.lock().expect("not poisoned").get(id).cloned()
    }

    /// Keeps `v` for `id` and gives it back.
    fn keep(&self, id: &str, v: T) -> T {
        self.0.lock().expect("not poisoned").insert(id.to_string(), v.clone());
        v
    }
}

impl Engine {
    /// The release record of `id` on `run`'s host: from the cache when it is
    /// there (the id ends in the content digest, so a cached record of the
    /// same id describes the same tree), else from the host.
    /// Read once per run: every host of a fleet usually has the same base.
    async fn record(&self, run: &HostRun, app: &str, id: &str) -> Result<Arc<Release>, HostError> {
        match self.cached(app, id) {
            Ok(r) => Ok(r),
            // Read from a host, it describes that host's copy: not shared.
            Err(_) => {
                let id = haul_release::ReleaseId::parse(id)
                    .map_err(|source| HostError::Release { host: run.target.name.clone(), source })?;
                run.app.read_release(&id).await.map(Arc::new)
            }
        }
    }

    /// The cached release `id` of `app`, parsed once per engine: its record
    /// lists every file, and a deploy needs it in several places.
    pub fn cached(&self, app: &str, id: &str) -> Result<Arc<Release>, haul_release::ReleaseError> {
        if let Some(r) = self.records.get(id) {
            return Ok(r);
        }
        Ok(self.records.keep(id, Arc::new(self.cache().get(app, id)?)))
    }

    /// What reads `release`'s files from the cache, made once per engine
    /// (off the runtime's threads: the first read of a release an earlier
    /// haul cached takes its archive into blobs).
    async fn contents(&self, release: &Release) -> Result<Contents, haul_release::ReleaseError> {
        if let Some(c) = self.contents.get(&release.id) {
            return Ok(c);
        }
        let (cache, rel) = (self.cache(), release.clone());
        let c = tokio::task::spawn_blocking(move || cache.contents(&rel))
            .await
            .expect("reading contents does not panic")?;
        Ok(self.contents.keep(&release.id, c))
    }

    /// Whether a file matching one of `globs` changed between what `run`'s
    /// host ran before and `release` (always true without globs, or when
    /// nothing ran before). Says so when it did not.
    pub(super) async fn changed(&self, run: &HostRun, release: &Release, globs: &[String]) -> Result<bool, HostError> {
        let Some(before) = run.before.as_deref().filter(|_| !globs.is_empty()) else { return Ok(true) };
        let old = self.record(run, &release.app, before).await?;
        let diff = haul_release::Diff::between(Some(&old.manifest), &release.manifest);
        let opts = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        let patterns: Vec<glob::Pattern> = globs.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect();
        let hit = diff
            .send
            .iter()
            .map(|e| e.path.as_str())
            .chain(diff.drop.iter().map(String::as_str))
            .any(|p| patterns.iter().any(|g| g.matches_with(p, opts)));
        if !hit {
            self.observer.progress(Progress::Note(&format!(
                "{}: migration skipped: no changed file matches {}",
                run.target.name,
                globs.join(", ")
            )));
        }
        Ok(hit)
    }

    /// Stages `release` on `run`'s host, sending only what its newest
    /// complete release lacks.
    pub(super) async fn upload(
        &self,
        run: &HostRun,
        release: &Release,
        shared: &[String],
        complete: bool,
        token: &str,
    ) -> Result<StageReport, HostError> {
        if run.host.has_complete(&release.id) {
            return Ok(StageReport { already: true, ..StageReport::default() });
        }
        let base = match run.host.newest_complete().filter(|b| *b != release.id) {
            None => None,
            Some(id) => Some((id.to_string(), self.record(run, &release.app, id).await?)),
        };
        let shared: Vec<SharedPath> = shared.iter().map(|s| SharedPath::parse(s)).collect();
        let contents = self
            .contents(release)
            .await
            .map_err(|source| HostError::Release { host: run.target.name.clone(), source })?;
        let base = base.as_ref().map(|(_, r)| &**r);
        if complete {
            run.app.stage_complete(release, &contents, base, &shared, run.host.rsync, token).await
        } else {
            run.app.stage(release, &contents, base, &shared, run.host.rsync, token).await
        }
    }
}

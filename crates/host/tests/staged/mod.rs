//! A host app on a local transport under a given shell, with a release
//! cache to build from and a lock held, for the tests that stage releases
//! (shared paths, runs staging the same release). (Not every test binary
//! that includes this module uses every method.)
#![allow(dead_code)]

use haul_host::{Holder, HostApp, LockInfo, SharedPath};
use haul_release::{Release, ReleaseCache};
use std::path::PathBuf;

/// The shared paths every release staged here has.
fn shared() -> [SharedPath; 2] {
    [SharedPath::parse("log/"), SharedPath::parse("config/app.env")]
}

pub struct Host {
    pub tmp: tempfile::TempDir,
    cache: ReleaseCache,
    pub host: HostApp,
    rt: tokio::runtime::Runtime,
    /// The token of the lock this run holds on the host.
    pub token: String,
}

impl Host {
    pub fn new(shell: &[&str]) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ReleaseCache::new(tmp.path().join("cache"));
        let host = HostApp::new(crate::shells::local(shell), tmp.path().join("host/app").display().to_string());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let lock = LockInfo::new(Holder::current(), "t", "deploy".into());
        rt.block_on(host.lock(&lock)).unwrap();
        Host { tmp, cache, host, rt, token: lock.token }
    }

    pub fn app(&self) -> PathBuf {
        self.tmp.path().join("host/app")
    }

    /// A release whose tree holds `index.html` saying `text`.
    pub fn build(&self, text: &str) -> Release {
        let src = self.tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("index.html"), text).unwrap();
        self.cache.build("app", &src, "test", None).unwrap().0
    }

    /// Stages `r` over `base` and marks it complete, for this run.
    pub fn stage(&self, r: &Release, base: Option<&Release>) -> Result<(), String> {
        self.stage_as(r, base, &self.token)?;
        self.complete_as(r, &self.token)
    }

    /// Stages `r` over `base` for the run whose lock token is `token`,
    /// leaving it incomplete.
    pub fn stage_as(&self, r: &Release, base: Option<&Release>, token: &str) -> Result<(), String> {
        self.rt.block_on(async {
            let contents = self.cache.contents(r).unwrap();
            self.host.stage(r, &contents, base, &shared(), false, token).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    /// Marks `r` complete for the run whose lock token is `token`.
    pub fn complete_as(&self, r: &Release, token: &str) -> Result<(), String> {
        let id = haul_release::ReleaseId::parse(&r.id).unwrap();
        self.rt.block_on(self.host.complete(&id, token)).map_err(|e| e.to_string())
    }

    /// Discards what the run whose lock token is `token` staged of `r`.
    pub fn discard_as(&self, r: &Release, token: &str) -> Result<(), String> {
        let id = haul_release::ReleaseId::parse(&r.id).unwrap();
        self.rt.block_on(self.host.discard_incomplete(&id, token)).map_err(|e| e.to_string())
    }

    /// Stages and completes `r` in one round trip (`stage_complete`).
    pub fn stage_complete(&self, r: &Release, base: Option<&Release>) -> Result<(), String> {
        self.stage_complete_as(r, base, &self.token)
    }

    /// [`Host::stage_complete`] for the run whose lock token is `token`.
    pub fn stage_complete_as(&self, r: &Release, base: Option<&Release>, token: &str) -> Result<(), String> {
        self.rt.block_on(async {
            let contents = self.cache.contents(r).unwrap();
            self.host
                .stage_complete(r, &contents, base, &shared(), false, token)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    /// The lock cleared (as `haul unlock` does) and taken by another run,
    /// whose token is returned: this run's token no longer holds it.
    pub fn taken_over(&self) -> String {
        let event = haul_host::Event::now(haul_host::EventKind::Unlock, "t");
        self.rt.block_on(self.host.force_unlock(&event)).unwrap();
        let lock = LockInfo::new(Holder::current(), "other", "deploy".into());
        self.rt.block_on(self.host.lock(&lock)).unwrap();
        lock.token
    }

    /// The names under `releases/`, sorted.
    pub fn releases(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.app().join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub fn complete(&self, r: &Release) -> bool {
        let releases = self.app().join("releases");
        releases.join(&r.id).is_dir() && releases.join(format!("{}.manifest", r.id)).is_file()
    }
}

//! A store, a signing key, releases spooled and blessed through the real
//! store and bless APIs, and agent settings for local roots: shared by the
//! agent's tests and `haul agent`'s.
#![allow(dead_code)]

use haul_agent::AgentConfig;
use haul_bless::{ArchiveRef, Blessing, Envelope, SecretKey, Steps};
use haul_release::{Release, ReleaseCache, ReleaseId};
use haul_store::{Store, StoreOptions, blessings, spool};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct World {
    pub tmp: tempfile::TempDir,
    pub store_dir: PathBuf,
    /// The store's URL as agents are given it.
    pub store_url: String,
    pub store: Store,
    pub cache: ReleaseCache,
    pub key: SecretKey,
    pub trust: PathBuf,
    pub version: u64,
    trees: u32,
}

impl World {
    /// A world whose store is a directory (`file://`).
    pub fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let store_dir = tmp.path().join("store");
        let url = store_dir.to_str().unwrap().to_string();
        let store = Store::open(&url, &StoreOptions::default()).unwrap();
        Self::with(tmp, store_dir, url, store)
    }

    /// A world on `store`, which agents reach at `url`.
    pub fn with_store(store: Store, url: String) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let store_dir = tmp.path().join("no-store-dir");
        Self::with(tmp, store_dir, url, store)
    }

    fn with(tmp: tempfile::TempDir, store_dir: PathBuf, store_url: String, store: Store) -> World {
        let cache = ReleaseCache::new(tmp.path().join("cache"));
        let key = SecretKey::generate("ci");
        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        key.write_pair(&keys).unwrap();
        World { trust: keys.join("ci.pub"), tmp, store_dir, store_url, store, cache, key, version: 0, trees: 0 }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A release of `web` with `files` (path, contents; a path ending in
    /// `.sh` is a script).
    pub fn release(&mut self, files: &[(&str, &str)]) -> Release {
        self.trees += 1;
        let tree = self.tmp.path().join(format!("tree-{}", self.trees));
        for (p, body) in files {
            let f = tree.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, body).unwrap();
        }
        std::fs::create_dir_all(&tree).unwrap();
        self.cache.build("web", &tree, "test", None).unwrap().0
    }

    /// Spools `r` and blesses it as the next version, after `edit`.
    pub async fn bless(&mut self, r: &Release, edit: impl FnOnce(&mut Blessing)) -> Blessing {
        let id = ReleaseId::parse(&r.id).unwrap();
        let index = spool::spool(&self.store, &self.cache, "web", &id, "test").await.unwrap().index().clone();
        self.version += 1;
        let mut b = Blessing {
            format: haul_bless::FORMAT,
            app: "web".into(),
            env: "prod".into(),
            version: self.version,
            release: id,
            archive: ArchiveRef { blake3: index.archive.blake3.clone(), size: index.archive.size },
            record: ArchiveRef { blake3: index.record.blake3.clone(), size: index.record.size },
            previous: None,
            waves: vec![],
            steps: Steps { path: "web".into(), keep: 3, ..Steps::default() },
            issued: Timestamp::now() - SignedDuration::from_secs(5),
            expires: Timestamp::now() + SignedDuration::from_hours(24),
            by: "alice".into(),
            reason: None,
            deployment: None,
            report_keys: vec![],
        };
        edit(&mut b);
        self.publish(&b, &self.key).await;
        b
    }

    /// Publishes `b` signed by `key` as version `b.version`.
    pub async fn publish(&self, b: &Blessing, key: &SecretKey) {
        let env = Envelope::sign(b, &[key]);
        blessings::publish(&self.store, "web", "prod", b.version, env.to_bytes().into()).await.unwrap();
    }

    /// Settings of an agent of `host` with its own root.
    pub fn config(&self, host: &str, roles: &[&str]) -> AgentConfig {
        let vars = self.vars(host, roles);
        AgentConfig::from_env(|k| vars.get(k).cloned()).unwrap()
    }

    pub fn vars(&self, host: &str, roles: &[&str]) -> BTreeMap<String, String> {
        [
            ("HAUL_STORE", self.store_url.clone()),
            ("HAUL_ROOT", self.root(host).to_str().unwrap().to_string()),
            ("HAUL_APPS", "web".into()),
            ("HAUL_ENV", "prod".into()),
            ("HAUL_HOST", host.into()),
            ("HAUL_ROLES", roles.join(",")),
            ("HAUL_TRUST", self.trust.to_str().unwrap().to_string()),
            ("HAUL_INTERVAL", "1s".into()),
            ("HAUL_BACKOFF_MAX", "2s".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn root(&self, host: &str) -> PathBuf {
        self.tmp.path().join("hosts").join(host)
    }

    /// What `current` of `host` points to.
    pub fn live(&self, host: &str) -> Option<String> {
        let l = std::fs::read_link(self.root(host).join("web/current")).ok()?;
        Some(l.to_str()?.trim_start_matches("releases/").to_string())
    }

    pub async fn report(&self, host: &str) -> haul_store::reports::AgentReport {
        let all = haul_store::reports::read_all(&self.store, "web", "prod", &haul_store::reports::Reporters::Anyone)
            .await
            .unwrap();
        all.into_iter().find(|r| r.host == host).unwrap_or_else(|| panic!("no report of {host}"))
    }
}

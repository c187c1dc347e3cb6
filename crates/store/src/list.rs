//! Listing what a store holds: `haul store ls`.
//!
//! [`summary`] gathers, per app, the spooled releases (from their indexes),
//! per environment the blessed versions (their numbers from the keys, and
//! the newest envelopes as stored: judging them is `haul-bless`'s job, done
//! by the caller) and the agents' reports. Every type is serde-able, for
//! `--json`.

use crate::reports::{self, AgentReport};
use crate::spool::{self, SpoolIndex};
use crate::{Store, StoreError, keys};
use futures_util::TryStreamExt;
use haul_release::ReleaseId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many of each environment's newest envelopes [`summary`] reads.
pub const ENVELOPES: usize = 5;

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key, relative to the store.
    pub key: String,
    pub size: u64,
    pub modified: Timestamp,
}

/// What a store holds, per app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSummary {
    pub url: String,
    pub apps: Vec<AppSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSummary {
    pub app: String,
    /// Spooled releases, oldest first.
    pub releases: Vec<ReleaseSummary>,
    /// Release directories with objects but no index: spools in progress
    /// or interrupted (purge removes them once they are an hour old).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<String>,
    pub environments: Vec<EnvSummary>,
}

/// A spooled release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSummary {
    pub id: String,
    /// Its index, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<SpoolIndex>,
    /// Why the index could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// An environment of an app: its blessings and its agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSummary {
    pub env: String,
    /// Every blessed version, oldest first.
    pub versions: Vec<u64>,
    /// The newest envelopes, newest first, as stored (not judged).
    pub envelopes: Vec<StoredEnvelope>,
    pub agents: Vec<AgentReport>,
    /// Why some (or all) of the agents' reports could not be read or
    /// were not taken; `agents` holds the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_problem: Option<String>,
}

/// One blessing's envelope as the store holds it (JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEnvelope {
    pub version: u64,
    pub envelope: String,
}

impl Store {
    /// Every key under `prefix` (relative to the store), sorted.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.list(prefix).await?.into_iter().map(|l| l.key).collect())
    }

    /// Every object under `prefix` with its size and time, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let base = self.key(prefix);
        let skip = self.prefix.parts().count();
        let mut out: Vec<Listed> = self
            .inner
            .list(Some(&base))
            .map_ok(|m| Listed {
                key: m.location.parts().skip(skip).map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/"),
                size: m.size,
                modified: Timestamp::from_millisecond(m.last_modified.timestamp_millis())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            })
            .try_collect()
            .await
            .map_err(|e| self.error(prefix, e))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// The spooled releases of `app`: per release id, its objects.
pub(crate) async fn release_dirs(store: &Store, app: &str) -> Result<BTreeMap<ReleaseId, Vec<Listed>>, StoreError> {
    let prefix = keys::releases(keys::component("app", app)?);
    let mut dirs: BTreeMap<ReleaseId, Vec<Listed>> = BTreeMap::new();
    for l in store.list(&prefix).await? {
        let rest = &l.key[prefix.len()..];
        // Only `<id>/<name>` is haul's; anything else is left alone.
        let Some((id, name)) = rest.split_once('/') else { continue };
        let Ok(id) = ReleaseId::parse(id) else { continue };
        if name.contains('/') {
            continue;
        }
        dirs.entry(id).or_default().push(l);
    }
    Ok(dirs)
}

/// Who may speak for the hosts of an app in an environment, by their names
/// and the newest envelope as stored (judging it is the caller's job).
pub type ReportersOf<'a> = &'a (dyn Fn(&str, &str, Option<&StoredEnvelope>) -> reports::Reporters + Sync);

/// What the store holds for `app` (or every app); each environment's
/// reports are read as `reporters` says.
pub async fn summary(store: &Store, app: Option<&str>, reporters: ReportersOf<'_>) -> Result<StoreSummary, StoreError> {
    let apps: Vec<String> = match app {
        Some(a) => vec![keys::component("app", a)?.to_string()],
        None => {
            let mut apps = BTreeSet::new();
            for top in ["releases/", "blessings/", "reports/"] {
                for k in store.list_keys(top).await? {
                    if let Some(a) = k[top.len()..].split('/').next()
                        && keys::component("app", a).is_ok()
                    {
                        apps.insert(a.to_string());
                    }
                }
            }
            apps.into_iter().collect()
        }
    };
    let mut out = Vec::new();
    for app in apps {
        out.push(app_summary(store, &app, reporters).await?);
    }
    Ok(StoreSummary { url: store.url().to_string(), apps: out })
}

async fn app_summary(store: &Store, app: &str, reporters: ReportersOf<'_>) -> Result<AppSummary, StoreError> {
    let mut releases = Vec::new();
    let mut unfinished = Vec::new();
    for (id, objects) in release_dirs(store, app).await? {
        if !objects.iter().any(|o| o.key.ends_with("/index.json")) {
            unfinished.push(id.to_string());
            continue;
        }
        let (index, problem) = match spool::index(store, app, &id).await {
            Ok(i) => (i, None),
            Err(e) => (None, Some(e.to_string())),
        };
        releases.push(ReleaseSummary { id: id.to_string(), index, problem });
    }

    // Environments: those with blessings or with reports.
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let bprefix = format!("blessings/{app}/");
    for k in store.list_keys(&bprefix).await? {
        let Some((env, name)) = k[bprefix.len()..].split_once('/') else { continue };
        if keys::component("environment", env).is_err() {
            continue;
        }
        let entry = versions.entry(env.to_string()).or_default();
        if let Some(v) = name.strip_suffix(".json").filter(|v| v.len() == 20).and_then(|v| v.parse::<u64>().ok()) {
            entry.push(v);
        }
    }
    let rprefix = format!("reports/{app}/");
    for k in store.list_keys(&rprefix).await? {
        if let Some((env, _)) = k[rprefix.len()..].split_once('/')
            && keys::component("environment", env).is_ok()
        {
            versions.entry(env.to_string()).or_default();
        }
    }
    let mut environments = Vec::new();
    for (env, mut vs) in versions {
        vs.sort_unstable();
        let mut envelopes = Vec::new();
        for &version in vs.iter().rev().take(ENVELOPES) {
            if let Some(b) = store.get(&keys::blessing(app, &env, version), crate::blessings::MAX_ENVELOPE).await? {
                envelopes.push(StoredEnvelope { version, envelope: String::from_utf8_lossy(&b).into_owned() });
            }
        }
        // One bad report is named and hides no other agent.
        let who = reporters(app, &env, envelopes.first());
        let (agents, agents_problem) = match reports::read_each(store, app, &env, &who).await {
            Ok(r) if r.problems.is_empty() => (r.reports, None),
            Ok(r) => {
                let said: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
                (r.reports, Some(said.join("; ")))
            }
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        environments.push(EnvSummary { env, versions: vs, envelopes, agents, agents_problem });
    }
    Ok(AppSummary { app: app.to_string(), releases, unfinished, environments })
}

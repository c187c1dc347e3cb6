//! `haul cache prune`: the local release cache keeps each app's newest
//! releases and every release an environment runs, and the file contents
//! those need; the rest goes. What runs where is read from the ledger, so
//! a release live anywhere (and so promotable from there) or being deployed
//! is never pruned; when the ledger cannot be read nothing is removed.

use super::Ctx;
use crate::error::{Failure, Result};
use haul_release::ReleaseCache;
use std::collections::HashSet;

pub async fn prune(ctx: &Ctx, only: Option<&str>, keep: Option<usize>, json: bool) -> Result {
    let config = ctx.config()?;
    if let Some(app) = only {
        config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let ledger = haul_record::open(&config).await?;
    let cache = ReleaseCache::new(config.cache_dir());
    let mut report = Vec::new();
    for (name, app) in &config.apps {
        let name = name.get_ref();
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let mut live = HashSet::new();
        for env in config.environments.keys() {
            if let Some(d) = ledger.live(name, env.get_ref()).await? {
                live.insert(d.release.to_string());
            }
        }
        // A deployment still running needs its release as much.
        for d in ledger.deployments(Some(name), None, 200).await? {
            if d.status == haul_ledger::DeploymentStatus::Running {
                live.insert(d.release.to_string());
            }
        }
        let newest = keep.unwrap_or(*app.keep.get_ref() as usize);
        let cache2 = cache.clone();
        let name2 = name.to_string();
        let pruned = tokio::task::spawn_blocking(move || cache2.prune(&name2, newest, &live))
            .await
            .expect("pruning does not panic")
            .map_err(|e| Failure::Run(e.to_string()))?;
        if !json {
            ctx.printer.out(&format!(
                "{name}: removed {} release(s){}; {} file content(s), {} bytes no release needs",
                pruned.releases.len(),
                if pruned.releases.is_empty() { String::new() } else { format!(" ({})", pruned.releases.join(", ")) },
                pruned.blobs,
                pruned.bytes
            ));
        }
        report.push(serde_json::json!({
            "app": name,
            "removed": pruned.releases,
            "blobs": pruned.blobs,
            "bytes": pruned.bytes,
        }));
    }
    if json {
        ctx.printer.json(&report);
    }
    Ok(())
}

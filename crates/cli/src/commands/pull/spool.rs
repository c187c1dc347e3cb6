//! `haul spool APP [--release ID | FILE]`: a release into the store,
//! exactly once. FILE is an archive another tool made, imported by haul's
//! own safe reader into a scratch directory and packed like a build.

use super::open_store;
use crate::commands::Ctx;
use crate::error::{Failure, Result};
use haul_config::Config;
use haul_release::{ImportLimits, Release, ReleaseCache, ReleaseId};
use haul_store::spool::{SpoolIndex, Spooled};
use std::path::Path;

pub async fn spool(ctx: &Ctx, app: &str, release: Option<String>, file: Option<&Path>, json: bool) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    // The store is judged before anything is imported or written.
    let store = open_store(&config, true).await?;
    let cache = ReleaseCache::new(config.cache_dir());
    let who = haul_deploy::Whoami::current().user;
    let r = match (release, file) {
        (Some(id), _) => cached(&cache, app, &id)?,
        (None, Some(file)) => import(&cache, app, file, &who)?,
        (None, None) => cache.latest(app).map_err(haul_deploy::DeployError::from)?.ok_or_else(|| {
            Failure::Usage(format!("no release of `{app}` is cached here: build one with `haul build {app}`"))
        })?,
    };
    let id = ReleaseId::parse(&r.id).map_err(haul_deploy::DeployError::from)?;
    let done = haul_store::spool::spool(&store, &cache, app, &id, &who).await?;
    show(ctx, &store, &done, json);
    Ok(())
}

/// Spools `id` (cached) for a deploy; returns its index.
pub async fn spool_for_deploy(
    ctx: &Ctx,
    config: &Config,
    store: &haul_store::Store,
    app: &str,
    id: &ReleaseId,
) -> Result<SpoolIndex> {
    let cache = ReleaseCache::new(config.cache_dir());
    let who = haul_deploy::Whoami::current().user;
    let done = haul_store::spool::spool(store, &cache, app, id, &who).await?;
    let (Spooled::Uploaded(i) | Spooled::Already(i)) = &done;
    let what = if matches!(done, Spooled::Uploaded(_)) { "spooled" } else { "already spooled" };
    ctx.printer.err(&format!("{what} {app} {} in {}", i.id, store.url()));
    Ok(i.clone())
}

fn cached(cache: &ReleaseCache, app: &str, id: &str) -> Result<Release> {
    haul_release::check_release_id(id).map_err(haul_deploy::DeployError::from)?;
    Ok(cache.get(app, id).map_err(haul_deploy::DeployError::from)?)
}

/// Imports `file` with the safe reader (`ReleaseCache::import`: a scratch
/// directory, removed whatever happens) as a release of `app`. A refused
/// archive is the user's input: exit 2, naming the file and the entry.
fn import(cache: &ReleaseCache, app: &str, file: &Path, who: &str) -> Result<Release> {
    if !file.is_file() {
        return Err(Failure::Usage(format!("{}: no such archive", file.display())));
    }
    let (release, _) = cache
        .import(app, file, who, ImportLimits::default())
        .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    Ok(release)
}

fn show(ctx: &Ctx, store: &haul_store::Store, done: &Spooled, json: bool) {
    let (Spooled::Uploaded(i) | Spooled::Already(i)) = done;
    let uploaded = matches!(done, Spooled::Uploaded(_));
    if json {
        ctx.printer.json(&serde_json::json!({
            "app": i.app,
            "id": i.id,
            "digest": i.digest,
            "bytes": i.archive.size,
            "uploaded": uploaded,
            "store": store.url(),
        }));
    } else if uploaded {
        ctx.printer.out(&format!("uploaded {} {} ({} bytes) to {}", i.app, i.id, i.archive.size, store.url()));
    } else {
        ctx.printer.out(&format!("already spooled: {} {} in {}", i.app, i.id, store.url()));
    }
}

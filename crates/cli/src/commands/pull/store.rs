//! `haul store ls` and `haul store purge`: what the store holds (releases,
//! sizes, each environment's blessing, what agents report) and removing
//! the releases no environment needs.

use super::{ago, open_store, read_blessing, trust};
use crate::commands::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_config::Config;
use haul_store::spool::SpoolIndex;
use haul_store::{Store, blessings, keys, reports};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A spooled release of the store, or a directory with no index yet (a
/// spool in progress or interrupted).
struct Spooled {
    id: String,
    index: Option<SpoolIndex>,
}

fn apps(config: &Config, app: Option<&str>) -> Result<Vec<String>> {
    if let Some(a) = app {
        config.app(a).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    Ok(config.apps.keys().map(|k| k.get_ref().clone()).filter(|a| app.is_none_or(|x| x == a)).collect())
}

async fn spooled(store: &Store, app: &str) -> Result<Vec<Spooled>> {
    let prefix = keys::releases(keys::component("app", app)?);
    let mut ids = BTreeSet::new();
    for k in store.list_keys(&prefix).await? {
        if let Some(id) = k.strip_prefix(&prefix).and_then(|r| r.split('/').next()) {
            ids.insert(id.to_string());
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let index =
            match store.get(&keys::release_index(app, &id), 1 << 20).await? {
                Some(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                    Failure::Run(format!("store {}: {}: {e}", store.url(), keys::release_index(app, &id)))
                })?),
                None => None,
            };
        out.push(Spooled { id, index });
    }
    Ok(out)
}

/// Environments with blessings of `app` in the store (configured or not).
async fn blessed_envs(store: &Store, app: &str) -> Result<BTreeSet<String>> {
    let prefix = format!("blessings/{}/", keys::component("app", app)?);
    Ok(store
        .list_keys(&prefix)
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix).and_then(|r| r.split('/').next()).map(str::to_string))
        .collect())
}

pub async fn ls(ctx: &Ctx, app: Option<&str>, json: bool) -> Result {
    let config = ctx.config()?;
    let store = open_store(&config, false).await?;
    let trust = trust(&config)?;
    let now = jiff::Timestamp::now();
    let mut out = Vec::new();
    let mut text = Vec::new();
    for a in apps(&config, app)? {
        let releases = spooled(&store, &a).await?;
        let rows: Vec<Vec<String>> = releases
            .iter()
            .map(|r| match &r.index {
                Some(i) => vec![r.id.clone(), i.archive.size.to_string(), i.spooled.to_string(), i.by.clone()],
                None => vec![r.id.clone(), "-".into(), "incomplete (no index)".into(), "-".into()],
            })
            .collect();
        text.push(format!("{a}: {} release(s) in {}", releases.len(), store.url()));
        if !rows.is_empty() {
            text.push(table(&["RELEASE", "BYTES", "SPOOLED", "BY"], &rows));
        }
        let mut envs_json = Vec::new();
        let mut envs: BTreeSet<String> = blessed_envs(&store, &a).await?;
        envs.extend(
            config
                .environments
                .iter()
                .filter(|(_, e)| e.mode() == haul_config::Mode::Pull)
                .map(|(n, _)| n.get_ref().clone()),
        );
        for e in envs {
            let blessed = blessings::latest(&store, &a, &e)
                .await?
                .map(|(v, bytes)| (v, read_blessing(&bytes, trust.as_ref(), &a, &e)));
            let silent_after = config.environments.get(e.as_str()).map(|x| x.silent_after().0);
            let agents = reports::read_all(&store, &a, &e).await?;
            let blessed_release =
                blessed.as_ref().and_then(|(_, r)| r.as_ref().ok()).map(|r| r.doc.release.to_string());
            let line = match &blessed {
                None => format!("  {e}: not blessed"),
                Some((v, Ok(r))) => {
                    format!("  {e}: version {v}, {} (expires {}, {})", r.doc.release, r.doc.expires, r.label())
                }
                Some((v, Err(err))) => format!("  {e}: version {v} cannot be read: {err}"),
            };
            text.push(line);
            let mut arows = Vec::new();
            let mut ajson = Vec::new();
            for r in &agents {
                let silent = silent_after.is_some_and(|s| now.duration_since(r.at).as_secs() as u64 > s.as_secs());
                let drift = blessed_release.is_some() && r.live != blessed_release;
                let mut note = Vec::new();
                if silent {
                    note.push("SILENT".to_string());
                }
                if drift {
                    note.push(format!("drift: live {}", r.live.as_deref().unwrap_or("nothing")));
                }
                if let Some(err) = &r.error {
                    note.push(err.lines().next().unwrap_or_default().to_string());
                }
                arows.push(vec![
                    r.host.clone(),
                    r.release.clone().unwrap_or_else(|| "-".into()),
                    r.wave.map_or("-".into(), |w| w.to_string()),
                    phase(r.phase),
                    ago(r.at, now),
                    note.join("; "),
                ]);
                ajson.push(json!({
                    "host": r.host, "release": r.release, "live": r.live, "wave": r.wave,
                    "phase": r.phase, "blessing": r.blessing, "last_contact": r.at.to_string(),
                    "silent": silent, "drift": drift, "error": r.error,
                }));
            }
            if !arows.is_empty() {
                let t = table(&["HOST", "RELEASE", "WAVE", "PHASE", "LAST CONTACT", "NOTE"], &arows);
                text.extend(t.lines().map(|l| format!("    {l}")));
            }
            envs_json.push(json!({
                "env": e,
                "blessing": blessed.as_ref().map(|(v, r)| match r {
                    Ok(r) => json!({
                        "version": v, "release": r.doc.release, "previous": r.doc.previous,
                        "expires": r.doc.expires.to_string(), "by": r.doc.by,
                        "verified": r.verified.is_ok() && r.verified.as_ref().is_ok_and(|v| *v),
                        "status": r.label(),
                    }),
                    Err(err) => json!({ "version": v, "error": err.to_string() }),
                }),
                "agents": ajson,
            }));
        }
        out.push(json!({
            "app": a,
            "releases": releases.iter().map(|r| json!({
                "id": r.id,
                "bytes": r.index.as_ref().map(|i| i.archive.size),
                "spooled": r.index.as_ref().map(|i| i.spooled.to_string()),
                "by": r.index.as_ref().map(|i| i.by.clone()),
                "complete": r.index.is_some(),
            })).collect::<Vec<_>>(),
            "environments": envs_json,
        }));
    }
    if json {
        ctx.printer.json(&json!({ "store": store.url(), "apps": out }));
    } else {
        ctx.printer.out(&text.join("\n"));
    }
    Ok(())
}

/// A phase as reports spell it.
pub fn phase(p: haul_store::reports::AgentPhase) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub async fn purge(ctx: &Ctx, app: Option<&str>, keep: usize, dry_run: bool, json: bool) -> Result {
    if keep == 0 {
        return Err(Failure::Usage("--keep must be at least 1: the blessed release is always kept".into()));
    }
    let config = ctx.config()?;
    let store = open_store(&config, !dry_run).await?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for a in apps(&config, app)? {
        let mut needed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // A release spooled after the newest blessing of every environment
        // may be about to be blessed (a deploy between its spool and its
        // bless): it is kept.
        let mut newest: Option<jiff::Timestamp> = None;
        for e in blessed_envs(&store, &a).await? {
            for (v, bytes) in blessings::history(&store, &a, &e, keep).await? {
                // What a blessing names is kept whether or not it verifies;
                // one that cannot be read at all stops the purge of the app.
                let r = read_blessing(&bytes, None, &a, &e).map_err(|err| {
                    Failure::Run(format!(
                        "blessing version {v} of {a} in {e} cannot be read ({err}); nothing of {a} was purged"
                    ))
                })?;
                newest = newest.max(Some(r.doc.issued));
                needed.entry(r.doc.release.to_string()).or_default().push(format!("{e} v{v}"));
            }
        }
        for r in spooled(&store, &a).await? {
            let Some(index) = &r.index else { continue };
            let fresh = newest.is_none_or(|n| index.spooled >= n);
            if let Some(by) = needed.get(&r.id) {
                kept.push(json!({ "app": a, "id": r.id, "why": by }));
                continue;
            }
            if fresh {
                kept.push(json!({ "app": a, "id": r.id, "why": ["spooled after the newest blessing"] }));
                continue;
            }
            if !dry_run {
                remove(&store, &a, &r.id).await?;
            }
            removed.push(json!({ "app": a, "id": r.id, "bytes": index.archive.size }));
        }
    }
    if json {
        ctx.printer.json(&json!({ "dry_run": dry_run, "removed": removed, "kept": kept }));
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        for r in &removed {
            ctx.printer.out(&format!(
                "{verb} {} {} ({} bytes)",
                r["app"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or(""),
                r["bytes"]
            ));
        }
        ctx.printer.err(&format!("{verb} {} release(s), kept {}", removed.len(), kept.len()));
    }
    Ok(())
}

/// Removes one spooled release: its index first (the commit point: an
/// interrupted purge leaves objects no index names, never an index naming
/// a missing archive), then the rest.
async fn remove(store: &Store, app: &str, id: &str) -> Result {
    store.delete(&keys::release_index(app, id)).await?;
    let dir = format!("{}/", keys::release_dir(app, id));
    for k in store.list_keys(&dir).await? {
        store.delete(&k).await?;
    }
    Ok(())
}

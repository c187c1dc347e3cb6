//! `haul store ls` and `haul store purge`: what the store holds (releases,
//! sizes, each environment's blessing, what agents report) and removing
//! the releases no environment needs.

use super::{ago, open_store, read_blessing, trust};
use crate::commands::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_pull::phase;
use haul_release::ReleaseId;
use haul_store::Store;
use haul_store::list::{AppSummary, summary};
use serde_json::json;
use std::collections::BTreeSet;

/// What the store holds for `app` (or every app it has).
async fn apps(ctx: &Ctx, store: &Store, app: Option<&str>) -> Result<Vec<AppSummary>> {
    let config = ctx.config()?;
    if let Some(a) = app {
        config.app(a).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    // Every report key file is read first: one that cannot be read is an
    // error here, not a store whose reports are taken unchecked.
    for env in config.environments.keys() {
        haul_pull::reporters(&config, env.get_ref())?;
    }
    let trust = trust(&config)?;
    // Each environment's reports are taken by the rule of its newest
    // blessing (`reporters_for`), even one this file does not name.
    let reporters = |app: &str, env: &str, newest: Option<&haul_store::list::StoredEnvelope>| {
        let read = newest.and_then(|b| read_blessing(b.envelope.as_bytes(), trust.as_ref(), app, env).ok());
        haul_pull::reporters_for(&config, env, read.as_ref()).unwrap_or(haul_store::reports::Reporters::Sealed(vec![]))
    };
    Ok(summary(store, app, &reporters).await?.apps)
}

pub async fn ls(ctx: &Ctx, app: Option<&str>, json: bool) -> Result {
    let config = ctx.config()?;
    let store = open_store(&config, false).await?;
    let trust = trust(&config)?;
    let now = jiff::Timestamp::now();
    let mut out = Vec::new();
    let mut text = Vec::new();
    for s in apps(ctx, &store, app).await? {
        let a = &s.app;
        let mut rows: Vec<Vec<String>> = s
            .releases
            .iter()
            .map(|r| match &r.index {
                Some(i) => vec![r.id.clone(), i.archive.size.to_string(), i.spooled.to_string(), i.by.clone()],
                None => vec![r.id.clone(), "-".into(), r.problem.clone().unwrap_or_default(), "-".into()],
            })
            .collect();
        rows.extend(
            s.unfinished.iter().map(|id| vec![id.clone(), "-".into(), "unfinished (no index)".into(), "-".into()]),
        );
        text.push(format!("{a}: {} release(s) in {}", s.releases.len(), store.url()));
        if !rows.is_empty() {
            text.push(table(&["RELEASE", "BYTES", "SPOOLED", "BY"], &rows));
        }
        let mut envs_json = Vec::new();
        for env in &s.environments {
            let e = &env.env;
            let blessed =
                env.envelopes.first().map(|b| (b.version, read_blessing(b.envelope.as_bytes(), trust.as_ref(), a, e)));
            let silent_after = config.environments.get(e.as_str()).map(|x| x.silent_after().0);
            let agents = &env.agents;
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
            if let Some(problem) = &env.agents_problem {
                text.push(format!("    agents' reports not taken: {problem}"));
            }
            let mut arows = Vec::new();
            let mut ajson = Vec::new();
            for r in agents {
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
                    super::wave_name(blessed.as_ref().and_then(|(_, b)| b.as_ref().ok()).map(|b| &b.doc), r.wave),
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
                "agents_problem": env.agents_problem,
            }));
        }
        out.push(json!({
            "app": a,
            "releases": s.releases.iter().map(|r| json!({
                "id": r.id,
                "bytes": r.index.as_ref().map(|i| i.archive.size),
                "spooled": r.index.as_ref().map(|i| i.spooled.to_string()),
                "by": r.index.as_ref().map(|i| i.by.clone()),
                "problem": r.problem,
            })).collect::<Vec<_>>(),
            "unfinished": s.unfinished,
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

/// The releases of `s.app` that must stay: every one any environment
/// blessed in its last `keep` blessings, and those spooled after the newest
/// blessing of every environment (a deploy between its spool and its bless).
async fn needed(store: &Store, s: &haul_store::list::AppSummary, keep: usize) -> Result<BTreeSet<ReleaseId>> {
    let a = &s.app;
    let mut needed: BTreeSet<ReleaseId> = BTreeSet::new();
    let mut newest: Option<jiff::Timestamp> = None;
    for env in &s.environments {
        let e = &env.env;
        for (v, bytes) in haul_store::blessings::history(store, a, e, keep).await? {
            // What a blessing names is kept whether or not it verifies;
            // one that cannot be read at all stops the purge of the app.
            let r = read_blessing(&bytes, None, a, e).map_err(|err| {
                Failure::Run(format!(
                    "blessing version {v} of {a} in {e} cannot be read ({err}); nothing of {a} was purged"
                ))
            })?;
            newest = newest.max(Some(r.doc.issued));
            needed.insert(r.doc.release);
        }
    }
    for r in &s.releases {
        let fresh = r.index.as_ref().is_none_or(|i| newest.is_none_or(|n| i.spooled >= n));
        if fresh && let Ok(id) = ReleaseId::parse(&r.id) {
            needed.insert(id);
        }
    }
    Ok(needed)
}

pub async fn purge(ctx: &Ctx, app: Option<&str>, keep: usize, grace: &str, dry_run: bool, json: bool) -> Result {
    if keep == 0 {
        return Err(Failure::Usage("--keep must be at least 1: the blessed release is always kept".into()));
    }
    let grace = haul_config::Duration::parse(grace)
        .and_then(|d| jiff::SignedDuration::try_from(d.0).ok())
        .ok_or_else(|| Failure::Usage(format!("--grace {grace:?} is not a duration like \"1h\" or \"30m\"")))?;
    let config = ctx.config()?;
    let store = open_store(&config, !dry_run).await?;
    let mut reports = Vec::new();
    for s in apps(ctx, &store, app).await? {
        // Asked when the purge decides and again just before it deletes.
        let needed = async || needed(&store, &s, keep).await;
        let options = haul_store::purge::PurgeOptions { grace, ..haul_store::purge::PurgeOptions::new(dry_run) };
        reports.push(haul_store::purge::purge(&store, &s.app, needed, &options).await?);
    }
    if json {
        ctx.printer.json(&json!({ "dry_run": dry_run, "apps": reports }));
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        let (mut n, mut bytes) = (0, 0);
        for r in &reports {
            for x in r.removed.iter().chain(&r.unfinished) {
                ctx.printer.out(&format!("{verb} {} {} ({} bytes)", r.app, x.id, x.bytes));
            }
            n += r.removed.len();
            bytes += r.bytes;
        }
        ctx.printer.err(&format!("{verb} {n} release(s), {bytes} bytes"));
        for r in &reports {
            for id in &r.young {
                ctx.printer.err(&format!("kept {} {id}: spooled within --grace", r.app));
            }
            for id in &r.blessed_meanwhile {
                ctx.printer.err(&format!("kept {} {id}: blessed while the purge ran", r.app));
            }
        }
    }
    Ok(())
}

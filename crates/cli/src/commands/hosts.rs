//! `releases`, `status`, `prune`, `remove`, `unlock`, `exec`: commands that
//! look at or tidy hosts.

use super::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_host::HostState;
use serde_json::json;

pub async fn releases(ctx: &Ctx, app: &str, env: &str, only: &[String], json: bool) -> Result {
    let engine = ctx.engine(ctx.config()?);
    let states = engine.inspect(app, env, only).await?;
    let mut failed = false;
    if json {
        let v: Vec<_> = states
            .iter()
            .map(|(h, s)| match s {
                Ok(s) => json!({
                    "host": h.name,
                    "live": s.current,
                    "previous": s.previous(),
                    "releases": s.releases,
                    "lock": s.lock,
                    "history": s.history,
                }),
                Err(e) => json!({ "host": h.name, "error": e.to_string() }),
            })
            .collect();
        ctx.printer.json(&v);
        failed = states.iter().any(|(_, s)| s.is_err());
    } else {
        for (h, s) in &states {
            match s {
                Err(e) => {
                    failed = true;
                    ctx.printer.out(&format!("{}: unreachable: {e}", h.name));
                }
                Ok(s) => describe(ctx, &h.name, s),
            }
        }
    }
    if failed { Err(Failure::Reported) } else { Ok(()) }
}

fn describe(ctx: &Ctx, host: &str, s: &HostState) {
    ctx.printer.out(&format!("{host}:"));
    if s.releases.is_empty() {
        ctx.printer.out("  no releases");
    }
    let prev = s.previous();
    for r in s.releases.iter().rev() {
        let mut tags = vec![];
        if s.current.as_deref() == Some(&r.id) {
            tags.push("live");
        }
        if prev.as_deref() == Some(&r.id) {
            tags.push("previous");
        }
        if !r.complete {
            tags.push("incomplete");
        }
        let mark = if s.current.as_deref() == Some(&r.id) { "*" } else { " " };
        let tags = if tags.is_empty() { String::new() } else { format!("  ({})", tags.join(", ")) };
        ctx.printer.out(&format!("  {mark} {}{tags}", r.id));
    }
    if let Some(l) = &s.lock {
        ctx.printer.out(&format!("  locked: {}", l.describe()));
    }
    if !s.history.is_empty() {
        ctx.printer.out("  history:");
        for e in s.history.iter().rev().take(10) {
            let what = match (&e.from, &e.to) {
                (Some(f), Some(t)) => format!("{f} → {t}"),
                (None, Some(t)) => format!("→ {t}"),
                (Some(f), None) => f.clone(),
                (None, None) => String::new(),
            };
            let reason = e.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            let kind = format!("{:?}", e.kind).to_lowercase();
            ctx.printer.out(&format!("    {} {kind:<10} {what} by {}{reason}", e.at, e.actor));
        }
    }
}

pub async fn status(ctx: &Ctx, app: Option<String>, env: Option<String>, json: bool) -> Result {
    let config = ctx.config()?;
    if let Some(a) = &app {
        config.app(a).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    if let Some(e) = &env {
        config.env(e).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let apps: Vec<String> =
        config.apps.keys().map(|k| k.get_ref().clone()).filter(|a| app.as_ref().is_none_or(|x| x == a)).collect();
    let envs: Vec<String> = config
        .environments
        .keys()
        .map(|k| k.get_ref().clone())
        .filter(|e| env.as_ref().is_none_or(|x| x == e))
        .collect();
    let ledger = haul_record::open(&config).await?;
    let digests = super::secrets::digest_ledger(&config).await?;
    let engine = ctx.engine(config);
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let mut failed = false;
    for a in &apps {
        for e in &envs {
            if engine.config.environments[e.as_str()].mode() == haul_config::Mode::Pull {
                let pulled = super::pull::status::rows(&engine.config, a, e).await?;
                for u in &pulled.unread {
                    ctx.printer.err(&format!("warning: {u}"));
                }
                rows.extend(pulled.table);
                out.extend(pulled.json);
                continue;
            }
            // An app whose roles no host of this environment has is not there.
            let Ok(states) = engine.inspect(a, e, &[]).await else {
                continue;
            };
            let lives: std::collections::BTreeSet<Option<&str>> =
                states.iter().filter_map(|(_, s)| s.as_ref().ok().map(|s| s.current.as_deref())).collect();
            let mixed = lives.len() > 1;
            let recorded = ledger.live(a, e).await?.map(|d| d.release.into_string());
            let names: Vec<String> = states.iter().map(|(h, _)| h.name.clone()).collect();
            let secrets = super::secrets::compare(&engine, digests.as_ref(), a, e, &names).await?;
            for (h, s) in &states {
                let (live, lock, err) = match s {
                    Ok(s) => (s.current.clone(), s.lock.as_ref().map(|l| l.describe()), None),
                    Err(err) => {
                        failed = true;
                        (None, None, Some(err.to_string()))
                    }
                };
                // Drift: the host runs something other than what the ledger
                // says the environment runs.
                let drift = err.is_none() && live != recorded;
                let (secret_json, secret_note) = super::secrets::status_of(&secrets, &h.name);
                out.push(json!({
                    "app": a, "env": e, "host": h.name, "live": live, "ledger": recorded,
                    "drift": drift, "mixed": mixed, "lock": lock, "error": err, "secrets": secret_json,
                }));
                let mut note = vec![];
                note.extend(secret_note);
                if mixed {
                    note.push("hosts differ".to_string());
                }
                if drift {
                    note.push(format!("drift: the ledger says {}", recorded.as_deref().unwrap_or("nothing")));
                }
                if let Some(l) = lock {
                    note.push(format!("locked: {l}"));
                }
                if let Some(e) = err {
                    note.push(format!("unreachable: {e}"));
                }
                rows.push(vec![
                    a.clone(),
                    e.clone(),
                    h.name.clone(),
                    live.unwrap_or_else(|| "-".into()),
                    note.join("; "),
                ]);
            }
        }
    }
    if json {
        ctx.printer.json(&out);
    } else {
        ctx.printer.out(&table(&["APP", "ENV", "HOST", "LIVE", "NOTE"], &rows));
    }
    if failed { Err(Failure::Reported) } else { Ok(()) }
}

pub async fn prune(ctx: &Ctx, app: &str, env: &str, keep: Option<usize>, only: &[String], json: bool) -> Result {
    let config = ctx.config()?;
    let keep = match keep {
        Some(0) => return Err(Failure::Usage("--keep must be at least 1".into())),
        Some(k) => k,
        None => *config.app(app).map_err(|e| Failure::Usage(e.to_string()))?.keep.get_ref() as usize,
    };
    let engine = ctx.engine(config);
    let removed = engine.prune(app, env, keep, only).await?;
    if json {
        let v: Vec<_> = removed.iter().map(|(h, r)| json!({ "host": h.name, "removed": r })).collect();
        ctx.printer.json(&v);
    } else {
        for (h, r) in &removed {
            if r.is_empty() {
                ctx.printer.out(&format!("{}: nothing to remove", h.name));
            } else {
                ctx.printer.out(&format!("{}: removed {}", h.name, r.join(", ")));
            }
        }
    }
    Ok(())
}

pub async fn remove(ctx: &Ctx, app: &str, env: &str, id: &str, only: &[String]) -> Result {
    let engine = ctx.engine(ctx.config()?);
    let hosts = engine.remove(app, env, id, only).await?;
    ctx.printer.out(&format!("removed {id} from {}", hosts.join(", ")));
    Ok(())
}

pub async fn unlock(ctx: &Ctx, app: &str, env: &str, reason: &str, only: &[String]) -> Result {
    if reason.trim().is_empty() {
        return Err(Failure::Usage("--reason must say why the lock is cleared".into()));
    }
    let engine = ctx.engine(ctx.config()?);
    let mut failed = false;
    for (h, r) in engine.unlock(app, env, reason, only).await? {
        match r {
            Ok(Some(l)) => ctx.printer.out(&format!("{}: cleared lock held by {}", h.name, l.describe())),
            Ok(None) => ctx.printer.out(&format!("{}: not locked", h.name)),
            Err(e) => {
                failed = true;
                ctx.printer.err(&format!("{}: {e}", h.name));
            }
        }
    }
    // A run that died still holds the environment in the ledger: close it
    // with the same reason.
    let ledger = haul_record::open(&engine.config).await?;
    for id in ledger.close_running(app, env, reason, &engine.who.user).await? {
        ctx.printer.out(&format!("closed deployment {id} as failed: {reason}"));
    }
    if failed { Err(Failure::Reported) } else { Ok(()) }
}

pub async fn exec(ctx: &Ctx, env: &str, roles: &[String], only: &[String], command: &str) -> Result {
    let engine = ctx.engine(ctx.config()?);
    let results = engine.exec(env, roles, only, command).await?;
    let mut bad = Vec::new();
    for (h, r) in &results {
        match r {
            Ok(o) if o.success() => {}
            Ok(o) => bad.push(format!("{}: exit {}", h.name, o.code.map_or("by signal".into(), |c| c.to_string()))),
            Err(e) => bad.push(format!("{}: {e}", h.name)),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Failure::Run(format!("failed on {} of {} hosts:\n{}", bad.len(), results.len(), bad.join("\n"))))
    }
}

pub async fn probe(ctx: &Ctx, env: Option<&str>, json: bool) -> Result {
    let config = ctx.config()?;
    if let Some(e) = env {
        config.env(e).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let engine = ctx.engine(config);
    let probes = engine.probe(env).await?;
    if json {
        ctx.printer.json(&probes);
    } else {
        let yes = |p: &haul_deploy::Probe, t: &str| match p.tools.get(t) {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "?",
        };
        let rows: Vec<Vec<String>> = probes
            .iter()
            .map(|p| {
                let reach = match &p.unreachable {
                    None => "ok".to_string(),
                    Some(_) if !p.unknown_key.is_empty() => "UNKNOWN KEY".to_string(),
                    Some(_) => "UNREACHABLE".to_string(),
                };
                let free = p.free_kib.map(|k| format!("{:.1} GiB", k as f64 / 1048576.0)).unwrap_or_else(|| "?".into());
                let root = if p.unreachable.is_some() {
                    "?"
                } else if p.root_writable {
                    "yes"
                } else {
                    "NO"
                };
                let locks = if p.locks.is_empty() { "-".to_string() } else { p.locks.join("; ") };
                vec![
                    p.host.clone(),
                    reach,
                    yes(p, "sh").into(),
                    yes(p, "tar").into(),
                    yes(p, "cp -l").into(),
                    yes(p, "mv -T").into(),
                    yes(p, "rsync").into(),
                    free,
                    root.into(),
                    locks,
                ]
            })
            .collect();
        ctx.printer.out(&table(
            &["HOST", "REACH", "SH", "TAR", "CP -L", "MV -T", "RSYNC", "FREE", "ROOT WRITABLE", "LOCKS"],
            &rows,
        ));
        for p in &probes {
            if let Some(why) = &p.unreachable {
                ctx.printer.out(&format!("\n{}: {why}", p.host));
            }
            if !p.missing.is_empty() {
                ctx.printer.out(&format!(
                    "\n{}: missing, so deploys cannot work there until they are installed:\n  {}",
                    p.host,
                    p.missing.join("\n  ")
                ));
            }
            if !p.unknown_key.is_empty() {
                ctx.printer.out(&format!(
                    "{}: the host key is not known here. Its fingerprints are:\n  {}\nCompare them with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on it), then add the key to known_hosts, or set `[ssh] host_keys = \"accept-new\"`.",
                    p.host,
                    p.unknown_key.join("\n  ")
                ));
            }
        }
    }
    if probes.iter().all(haul_deploy::Probe::ready) { Ok(()) } else { Err(Failure::Reported) }
}

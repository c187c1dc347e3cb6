//! `history`, `verify`, `approve`, `quarantine`, `audit verify`, `promote`
//! (into an environment or each member of a group):
//! commands that read and write the ledger, through `haul-record`'s ledger
//! client (the database or a `haul server`; these never know which).

use super::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_deploy::ReleaseChoice;
use haul_ledger::{NewVerification, VerificationResult};
use haul_record::open;

pub async fn history(ctx: &Ctx, app: Option<&str>, env: Option<&str>, limit: i64, json: bool) -> Result {
    let config = ctx.config()?;
    let ledger = open(&config).await?;
    let deployments = ledger.deployments(app, env, limit).await?;
    if json {
        ctx.printer.json(&deployments);
        return Ok(());
    }
    let mut rows = Vec::new();
    for d in &deployments {
        let verified = ledger.verifications(d.id).await?;
        let v: Vec<String> = verified.iter().map(|v| format!("{} {}", v.name, v.result.as_str())).collect();
        let undoes = d.undoes.map(|u| format!(" (undoes {u})")).unwrap_or_default();
        rows.push(vec![
            d.id.to_string(),
            d.app.clone(),
            d.env.clone(),
            d.release.to_string(),
            format!("{}{undoes}{}", d.trigger.as_str(), if d.forced.is_some() { " (forced)" } else { "" }),
            d.status.as_str().to_string(),
            d.actor.clone(),
            haul_ledger::time::text(d.started),
            if v.is_empty() { "-".into() } else { v.join(", ") },
        ]);
    }
    ctx.printer.out(&table(&["ID", "APP", "ENV", "RELEASE", "TRIGGER", "STATUS", "BY", "STARTED", "VERIFIED"], &rows));
    Ok(())
}

pub async fn verify(
    ctx: &Ctx,
    app: &str,
    env: &str,
    name: &str,
    result: VerificationResult,
    link: Option<String>,
    deployment: Option<i64>,
) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    config.env(env).map_err(|e| Failure::Usage(e.to_string()))?;
    let ledger = open(&config).await?;
    let deployment = match deployment {
        Some(d) => d,
        None => match ledger.deployments(Some(app), Some(env), 1).await?.first() {
            Some(d) => d.id,
            None => return Err(Failure::Run(format!("no deployment of {app} to {env} in the ledger"))),
        },
    };
    let reporter = haul_deploy::Whoami::current().user;
    let v = NewVerification { deployment, name: name.into(), result, link, reporter };
    ledger.report_verification(&v).await?;
    ctx.printer.out(&format!("recorded {name}: {} for deployment {deployment}", result.as_str()));
    let url = config.ledger_url();
    if !url.starts_with("http://") && !url.starts_with("https://") {
        store_verification(ctx, &config, app, env, &v).await?;
    }
    Ok(())
}

/// For a pull environment, the agents' copy of the result (a server does
/// this itself when the ledger is remote).
async fn store_verification(
    ctx: &Ctx,
    config: &haul_config::Config,
    app: &str,
    env: &str,
    v: &NewVerification,
) -> Result {
    let new = haul_store::verifications::NewResult {
        app,
        env,
        deployment: v.deployment,
        name: &v.name,
        result: haul_pull::verify::outcome(v.result.as_str()),
        link: v.link.as_deref(),
        reporter: &v.reporter,
    };
    let seal = haul_pull::verify::seal_from_env()
        .map_err(|e| Failure::Run(format!("recorded in the ledger, but not in the store for the agents: {e}")))?;
    let recorded = haul_pull::verify::record(config, &new, seal.as_ref())
        .await
        .map_err(|e| Failure::Run(format!("recorded in the ledger, but not in the store for the agents: {e}")))?;
    if let Some(note) = recorded.as_ref().and_then(|r| haul_pull::verify::note(&v.name, r)) {
        ctx.printer.err(&format!("warning: {note}"));
    }
    Ok(())
}

pub async fn approve(ctx: &Ctx, app: &str, release: &str, env: &str, comment: Option<&str>) -> Result {
    let config = ctx.config()?;
    config.env(env).map_err(|e| Failure::Usage(e.to_string()))?;
    let ledger = open(&config).await?;
    let actor = haul_deploy::Whoami::current().user;
    let id = haul_ledger::ReleaseId::parse(release).map_err(|e| Failure::Usage(e.to_string()))?;
    ledger.approve(app, &id, env, &actor, comment).await?;
    ctx.printer.out(&format!("{actor} approved {release} of {app} for {env}"));
    Ok(())
}

pub async fn quarantine(ctx: &Ctx, app: &str, release: &str, reason: &str) -> Result {
    if reason.trim().is_empty() {
        return Err(Failure::Usage("--reason must say why the release is quarantined".into()));
    }
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let ledger = open(&config).await?;
    let actor = haul_deploy::Whoami::current().user;
    let id = haul_ledger::ReleaseId::parse(release).map_err(|e| Failure::Usage(e.to_string()))?;
    ledger.quarantine(app, &id, reason, &actor).await?;
    ctx.printer.out(&format!("quarantined {release} of {app}: nothing will deploy it again"));
    Ok(())
}

pub async fn audit_verify(ctx: &Ctx, json: bool) -> Result {
    let ledger = open(&ctx.config()?).await?;
    let report = ledger.verify_audit().await?;
    if json {
        ctx.printer.json(&report);
    }
    match report.broken {
        None => {
            if !json {
                ctx.printer.out(&format!("audit log intact: {} entries", report.entries));
            }
            Ok(())
        }
        Some((seq, why)) => Err(Failure::Run(format!("the audit log is broken at entry {seq}: {why}"))),
    }
}

/// `haul promote`: into one environment, or into each member of a group in
/// order, stopping at the first that fails (the rest are not touched, and
/// the error names them).
pub async fn promote(ctx: &Ctx, app: &str, to: &str, release: Option<&str>, opts: super::deploy::RunOpts) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let Some(members) = config.group(to) else {
        return promote_one(ctx, app, to, release, opts).await;
    };
    drop(config);
    for (i, env) in members.iter().enumerate() {
        ctx.printer.err(&format!("group {to}: {env} ({} of {})", i + 1, members.len()));
        if let Err(e) = promote_one(ctx, app, env, release, opts.clone()).await {
            let rest = &members[i + 1..];
            let left = if rest.is_empty() { String::new() } else { format!("; not promoted: {}", rest.join(", ")) };
            ctx.printer.err(&format!("group {to}: stopped at {env}{left}"));
            return Err(e);
        }
    }
    Ok(())
}

async fn promote_one(ctx: &Ctx, app: &str, to: &str, release: Option<&str>, opts: super::deploy::RunOpts) -> Result {
    let config = ctx.config()?;
    let env = config.env(to).map_err(|e| Failure::Usage(e.to_string()))?;
    let upstream = env.code.get_ref().clone();
    if upstream == "build" {
        return Err(Failure::Usage(format!(
            "environment `{to}` builds its own code; deploy to it (`haul deploy {app} {to}`) instead of promoting"
        )));
    }
    let ledger = open(&config).await?;
    let candidates = ledger.candidates(&config, app, to).await?;
    let chosen = match haul_ledger::choose(candidates, release, app, &upstream, to) {
        Ok(c) => {
            ctx.printer.err(&format!("promoting {} from {upstream} (deployment {}) to {to}", c.release, c.deployment));
            c.release.into_string()
        }
        // Breaking glass names what it forces in.
        Err((msg, _)) if opts.force => {
            let Some(id) = release else {
                return Err(Failure::Usage(format!("{msg}\n--force needs --release naming the release to force in")));
            };
            ctx.printer.err(&format!("{msg}\nforcing {id} into {to} (--force): recorded as forced"));
            id.to_string()
        }
        Err((msg, left)) => {
            if opts.json && !left.is_empty() {
                ctx.printer.json(&left);
            }
            return Err(Failure::Run(msg));
        }
    };
    if opts.dry_run {
        ctx.printer.out(&chosen);
        return Ok(());
    }
    if config.environments[to].mode() == haul_config::Mode::Pull {
        let what = super::pull::run::What::Deploy(Some(chosen));
        return super::pull::run::run(ctx, app, to, what, &[], opts).await;
    }
    let plan = haul_deploy::plan_deploy(&config, app, to, ReleaseChoice::Given { id: chosen }, &[])?;
    super::deploy::run(ctx, config, plan, opts).await
}

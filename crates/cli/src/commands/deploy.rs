//! `build`, `plan`, `deploy`, `rollback`: commands that run a plan.

use super::Ctx;
use crate::cli::DeployArgs;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_deploy::{DeployError, DeployReport, Plan, PlanKind, ReleaseChoice, plan_deploy, plan_rollback};

pub async fn build(ctx: &Ctx, app: &str, json: bool) -> Result {
    let config = ctx.config()?;
    let engine = ctx.engine(config);
    let release = haul_deploy::build_release(&engine.config, app, &engine.who, &engine.observer).await?;
    if json {
        ctx.printer.json(&serde_json::json!({
            "app": release.app,
            "id": release.id,
            "digest": release.digest,
            "files": release.manifest.files(),
            "bytes": release.manifest.bytes(),
            "revision": release.revision,
            "built_by": release.built_by,
            "created": release.created,
        }));
    } else {
        ctx.printer.out(&release.id);
    }
    Ok(())
}

fn choice(release: Option<String>) -> ReleaseChoice {
    match release {
        Some(id) => ReleaseChoice::Given { id },
        None => ReleaseChoice::Build,
    }
}

fn show_plan(ctx: &Ctx, plan: &Plan, json: bool) {
    if json {
        ctx.printer.json(plan);
    } else {
        ctx.printer.out(plan.to_string().trim_end());
    }
}

impl RunOpts {
    pub fn from(flags: crate::cli::RunFlags, promote: bool) -> RunOpts {
        let crate::cli::RunFlags { dry_run, skip_unreachable, reason, force, json } = flags;
        RunOpts { promote, dry_run, skip_unreachable, reason, force, json: json.json }
    }
}

/// How a plan is run.
pub struct RunOpts {
    /// A promotion rather than a plain deploy (recorded as such).
    pub promote: bool,
    pub dry_run: bool,
    pub skip_unreachable: bool,
    pub reason: Option<String>,
    /// Break glass past the gate (with a reason).
    pub force: bool,
    pub json: bool,
}

pub fn plan(ctx: &Ctx, args: DeployArgs) -> Result {
    let DeployArgs { app, env, release, hosts, run } = args;
    let config = ctx.config()?;
    let plan = plan_deploy(&config, &app, &env, choice(release), &hosts.hosts)?;
    show_plan(ctx, &plan, run.json.json);
    Ok(())
}

pub async fn deploy(ctx: &Ctx, args: DeployArgs) -> Result {
    let DeployArgs { app, env, release, hosts, run: flags } = args;
    let config = ctx.config()?;
    let plan = plan_deploy(&config, &app, &env, choice(release), &hosts.hosts)?;
    run(ctx, config, plan, RunOpts::from(flags, false)).await
}

pub async fn rollback(ctx: &Ctx, app: &str, env: &str, to: Option<String>, hosts: &[String], opts: RunOpts) -> Result {
    let config = ctx.config()?;
    let plan = plan_rollback(&config, app, env, to, hosts)?;
    run(ctx, config, plan, opts).await
}

pub async fn run(ctx: &Ctx, config: haul_config::Config, mut plan: Plan, opts: RunOpts) -> Result {
    if opts.dry_run {
        show_plan(ctx, &plan, opts.json);
        return Ok(());
    }
    if opts.force && opts.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("--force needs a --reason saying why the gate is overridden".into()));
    }
    built_for_downstream(&config, &plan, opts.force)?;
    let ledger = super::ledger::open(&config).await?;
    let mut engine = ctx.engine(config);
    engine.skip_unreachable = opts.skip_unreachable;
    engine.reason = opts.reason;
    // Build first, so the ledger knows the release before anything ships.
    if let (PlanKind::Deploy, ReleaseChoice::Build) = (plan.kind, &plan.release) {
        engine.observer.progress(haul_deploy::Progress::Phase(haul_deploy::Phase::Build));
        let release = haul_deploy::build_release(&engine.config, &plan.app, &engine.who, &engine.observer).await?;
        plan.release = ReleaseChoice::Given { id: release.id };
    }
    plan.quarantined = ledger.quarantined(&plan.app, &plan.env).await?;
    match plan.kind {
        PlanKind::Deploy => plan.fallback = ledger.last_verified(&plan.app, &plan.env).await?,
        PlanKind::Rollback => resolve_rollback(&engine, &mut plan).await?,
    }
    let trigger = match (plan.kind, opts.promote) {
        (PlanKind::Rollback, _) => haul_ledger::Trigger::Rollback,
        (_, true) => haul_ledger::Trigger::Promote,
        (_, false) => haul_ledger::Trigger::Deploy,
    };
    let recorder = super::ledger::Recorder::start(&ledger, &mut engine, &plan, trigger, opts.force).await?;
    let result = engine.run(&plan).await;
    recorder.finish(&ledger, &mut engine, &result).await?;
    finish(ctx, result, opts.json)
}

/// A release built now never ran anywhere: an environment whose code comes
/// from another refuses it before anything is built (unless forced).
fn built_for_downstream(config: &haul_config::Config, plan: &Plan, force: bool) -> Result {
    if force || !matches!((plan.kind, &plan.release), (PlanKind::Deploy, ReleaseChoice::Build)) {
        return Ok(());
    }
    let up = config.env(&plan.env).map_err(|e| Failure::Usage(e.to_string()))?.code.get_ref();
    if up == "build" {
        return Ok(());
    }
    let (app, env) = (&plan.app, &plan.env);
    Err(Failure::Usage(format!(
        "environment `{env}` takes its code from `{up}`: it receives only releases that succeeded there and meet \
         its requirements, never one built for it. Deploy to {up} (`haul deploy {app} {up}`), then promote \
         (`haul promote {app} --to {env}`), or name a release that qualifies with --release"
    )))
}

/// Picks where a plain rollback goes before any host changes: each host's
/// previous release by its switch history, past quarantined ones; the
/// hosts must agree. The gate then judges that release, and the ledger
/// records the rollback, before the switch.
async fn resolve_rollback(engine: &haul_deploy::Engine, plan: &mut Plan) -> Result {
    if !matches!(plan.release, ReleaseChoice::Previous) {
        return Ok(());
    }
    let names: Vec<String> = plan.hosts.iter().map(|h| h.name.clone()).collect();
    let mut goals: Vec<(String, String)> = Vec::new();
    for (host, state) in engine.inspect(&plan.app, &plan.env, &names).await? {
        let state = match state {
            Ok(s) => s,
            Err(_) if engine.skip_unreachable => continue,
            Err(e) => return Err(Failure::Run(format!("{}: {e}", host.name))),
        };
        let Some(current) = state.current.clone() else {
            return Err(Failure::Run(format!(
                "{}: no release to roll back to (nothing is live); name one with --to",
                host.name
            )));
        };
        let mut allowed = state.complete();
        allowed.retain(|r| !plan.quarantined.contains(r));
        match haul_host::rollback_target(&state.history, &current, &allowed) {
            Some(t) => goals.push((host.name.clone(), t)),
            None => {
                let why = match state.rollback_target() {
                    Some(q) => format!(
                        "{q}, the release before {current}, is quarantined and no release before it is left; \
                         name one with --to"
                    ),
                    None => format!("{current} is live and nothing was live before it; name one with --to"),
                };
                return Err(Failure::Run(format!("{}: no release to roll back to: {why}", host.name)));
            }
        }
    }
    let targets: std::collections::BTreeSet<&str> = goals.iter().map(|(_, t)| t.as_str()).collect();
    match targets.len() {
        0 => Err(Failure::Run("no host to roll back could be reached".into())),
        1 => {
            plan.release = ReleaseChoice::Given { id: goals[0].1.clone() };
            Ok(())
        }
        _ => {
            let detail: Vec<String> = goals.iter().map(|(h, t)| format!("{h} → {t}")).collect();
            Err(Failure::Run(format!(
                "hosts would roll back to different releases ({}); choose one with --to",
                detail.join(", ")
            )))
        }
    }
}

/// Prints the run's summary; a failed run exits 1 after its summary.
fn finish(ctx: &Ctx, result: std::result::Result<DeployReport, DeployError>, json: bool) -> Result {
    let report = match result {
        Ok(r) => r,
        Err(DeployError::Failed(r)) => *r,
        Err(e) => return Err(e.into()),
    };
    if json {
        let mut v = serde_json::to_value(&report).expect("serializable");
        v["event"] = "report".into();
        ctx.printer.out(&v.to_string());
    } else {
        summary(ctx, &report);
    }
    if report.ok { Ok(()) } else { Err(Failure::Reported) }
}

/// Bytes the way a person reads them.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1048576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1048576.0),
    }
}

fn summary(ctx: &Ctx, r: &DeployReport) {
    let short = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = r
        .hosts
        .iter()
        .map(|h| {
            let sent = h
                .stage
                .as_ref()
                .map(|s| {
                    if s.already {
                        "already there".to_string()
                    } else {
                        format!(
                            "{} new or changed ({}), {} reused, {} sent",
                            s.sent_files,
                            bytes(s.sent_bytes),
                            s.reused_files,
                            bytes(s.stream_bytes)
                        )
                    }
                })
                .unwrap_or_default();
            vec![
                h.host.clone(),
                h.status.to_string(),
                short(&h.live),
                h.reached.to_string(),
                format!("{:.2}s", h.elapsed_ms as f64 / 1000.0),
                sent,
            ]
        })
        .collect();
    ctx.printer.out(&table(&["HOST", "STATUS", "LIVE", "PHASE", "TIME", "TRANSFER"], &rows));
    let release = r.release.clone().unwrap_or_default();
    let secs = r.elapsed_ms as f64 / 1000.0;
    if r.ok {
        let n = r.hosts.len();
        let hosts = format!("{n} host{}", crate::commands::config::plural(n));
        let line = match (&r.message, r.kind) {
            (Some(m), _) => m.clone(),
            (None, "rollback") => format!("rolled back {} in {} to {release} on {hosts} in {secs:.2}s", r.app, r.env),
            (None, _) => format!("deployed {} {release} to {} on {hosts} in {secs:.2}s", r.app, r.env),
        };
        ctx.printer.err(&line);
    } else {
        ctx.printer.err(&format!(
            "error: {} of {} to {} failed:\n{}",
            r.kind,
            r.app,
            r.env,
            r.message.clone().unwrap_or_default()
        ));
    }
}

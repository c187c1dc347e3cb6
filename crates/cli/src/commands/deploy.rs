//! `build`, `plan`, `deploy`, `rollback`: commands that run a plan.

use super::Ctx;
use crate::cli::DeployArgs;
use crate::error::{Failure, Result};
use crate::printer::table;
use haul_deploy::{DeployError, DeployReport, Plan, ReleaseChoice, plan_deploy, plan_rollback};

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
#[derive(Clone)]
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

/// Whether `env` of `config` deploys by pull (an unknown one is left for
/// the plan to name).
fn is_pull(config: &haul_config::Config, env: &str) -> bool {
    config.env(env).is_ok_and(|e| e.mode() == haul_config::Mode::Pull)
}

pub async fn plan(ctx: &Ctx, args: DeployArgs) -> Result {
    let DeployArgs { app, env, release, hosts, run } = args;
    let config = ctx.config()?;
    if is_pull(&config, &env) {
        if !hosts.hosts.is_empty() {
            return Err(Failure::Usage(format!("--hosts does not apply to pull environment `{env}`")));
        }
        return super::pull::run::plan(ctx, &app, &env, release, run.json.json).await;
    }
    let plan = plan_deploy(&config, &app, &env, choice(release), &hosts.hosts)?;
    show_plan(ctx, &plan, run.json.json);
    Ok(())
}

pub async fn deploy(ctx: &Ctx, args: DeployArgs) -> Result {
    let DeployArgs { app, env, release, hosts, run: flags } = args;
    let config = ctx.config()?;
    if is_pull(&config, &env) {
        let what = super::pull::run::What::Deploy(release);
        return super::pull::run::run(ctx, &app, &env, what, &hosts.hosts, RunOpts::from(flags, false)).await;
    }
    let plan = plan_deploy(&config, &app, &env, choice(release), &hosts.hosts)?;
    run(ctx, config, plan, RunOpts::from(flags, false)).await
}

pub async fn rollback(ctx: &Ctx, app: &str, env: &str, to: Option<String>, hosts: &[String], opts: RunOpts) -> Result {
    let config = ctx.config()?;
    if is_pull(&config, env) {
        return super::pull::run::run(ctx, app, env, super::pull::run::What::Rollback(to), hosts, opts).await;
    }
    let plan = plan_rollback(&config, app, env, to, hosts)?;
    run(ctx, config, plan, opts).await
}

/// Runs `plan` and records it in the ledger (see `haul_record::run`), then
/// prints its summary.
pub async fn run(ctx: &Ctx, config: haul_config::Config, plan: Plan, opts: RunOpts) -> Result {
    if opts.dry_run {
        show_plan(ctx, &plan, opts.json);
        return Ok(());
    }
    if opts.force && opts.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("--force needs a --reason saying why the gate is overridden".into()));
    }
    // Refused before the ledger is even opened (and again by the run).
    haul_record::check_built_for_downstream(&config, &plan, opts.force)?;
    let ledger = haul_record::open(&config).await?;
    let mut engine = ctx.engine(config);
    engine.skip_unreachable = opts.skip_unreachable;
    engine.reason = opts.reason;
    let digests = super::secrets::arm(&mut engine, &plan.app, &plan.env).await?;
    let trigger = haul_record::trigger_of(&plan, opts.promote);
    let outcome = haul_record::run(&ledger, &mut engine, plan, trigger, opts.force).await?;
    let report = match &outcome {
        Ok(r) => Some(r),
        Err(DeployError::Failed(r)) => Some(&**r),
        Err(_) => None,
    };
    if let (Some(l), Some(r)) = (&digests, report) {
        // The deploy happened either way: digests that cannot be recorded
        // are said, not turned into a failure of the deploy.
        if let Err(crate::error::Failure::Run(m) | crate::error::Failure::Usage(m)) =
            super::secrets::record(l, &engine, r).await
        {
            ctx.printer.err(&format!("warning: the secret files' digests were not recorded: {m}"));
        }
    }
    finish(ctx, outcome, opts.json)
}

/// Prints the run's summary; a failed run exits 1 after its summary.
pub(super) fn finish(ctx: &Ctx, result: std::result::Result<DeployReport, DeployError>, json: bool) -> Result {
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

//! `haul deploy`, `haul rollback` and `haul plan` on a pull environment:
//! build (or take `--release`), spool, bless, then follow the agents'
//! reports with the same progress, summary, `--json` events, exit codes
//! and failure policy as a push deploy, recorded in the ledger like one.

use super::bless::refuse_quarantined;
use super::{open_store, pull_env};
use crate::commands::Ctx;
use crate::commands::deploy::{RunOpts, finish};
use crate::error::{Failure, Result};
use haul_config::Config;
use haul_deploy::{DeployError, Observer};
use haul_ledger::text::{Kind, clean};
use haul_ledger::{DeploymentStatus, NewDeployment, NewRelease, ReleaseId, Trigger};
use haul_pull::bless::{Choice, choose};
use haul_pull::follow::HostSeen;
use haul_pull::run::{Go, Kind as RunKind, go};
use haul_record::Client;
use std::time::Duration;

/// What a pull run deploys.
pub enum What {
    /// A deploy: `--release`, else a build.
    Deploy(Option<String>),
    /// A rollback: `--to`, else what the current blessing replaced.
    Rollback(Option<String>),
}

/// What `haul plan` says of a pull deploy: what would be blessed.
pub async fn plan(ctx: &Ctx, app: &str, env: &str, release: Option<String>, json: bool) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let e = pull_env(&config, env)?;
    let store = open_store(&config, false).await?;
    let current = haul_store::blessings::latest(&store, app, env).await?.map(|(v, _)| v);
    let version = current.map_or(1, |v| v + 1);
    let release = release.unwrap_or_else(|| "(built now)".into());
    let waves: Vec<String> = haul_pull::doc::waves(e)
        .iter()
        .map(|w| {
            let what = match &w.select {
                haul_bless::Selector::Roles(r) => format!("roles {}", r.join(", ")),
                haul_bless::Selector::Labels(l) => {
                    let l: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("labels {}", l.join(", "))
                }
                haul_bless::Selector::Percent(p) => format!("{p}% of the others"),
                haul_bless::Selector::Rest => "every other host".into(),
            };
            format!("{} ({what})", w.name)
        })
        .collect();
    if json {
        ctx.printer.json(&serde_json::json!({
            "mode": "pull", "app": app, "env": env, "release": release, "version": version,
            "store": store.url(), "waves": waves, "hosts": e.hosts.iter().map(|h| h.get_ref()).collect::<Vec<_>>(),
            "failure": e.failure, "timeout": e.follow_timeout().to_string(),
        }));
        return Ok(());
    }
    let hosts = if e.hosts.is_empty() {
        "every agent that reports".to_string()
    } else {
        e.hosts.iter().map(|h| h.get_ref().as_str()).collect::<Vec<_>>().join(", ")
    };
    let lines = [
        format!("pull deploy of {app} to {env}"),
        format!("  spool {release} to {}", store.url()),
        format!("  bless it as version {version}"),
        format!("  waves: {}", if waves.is_empty() { "one wave of every host".into() } else { waves.join(", then ") }),
        format!("  wait for: {hosts} (at most {})", e.follow_timeout()),
        format!("  on failure: {}", format!("{:?}", e.failure).to_lowercase()),
    ];
    ctx.printer.out(&lines.join("\n"));
    Ok(())
}

pub async fn run(ctx: &Ctx, app: &str, env: &str, what: What, hosts: &[String], opts: RunOpts) -> Result {
    if !hosts.is_empty() {
        return Err(Failure::Usage(format!(
            "--hosts does not apply to pull environment `{env}`: its agents follow the blessing by waves"
        )));
    }
    if opts.dry_run {
        let release = match &what {
            What::Deploy(r) | What::Rollback(r) => r.clone(),
        };
        return plan(ctx, app, env, release, opts.json).await;
    }
    if opts.force && opts.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("--force needs a --reason saying why the gate is overridden".into()));
    }
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let e = pull_env(&config, env)?;
    haul_pull::signing_keys(&config)?;
    let store = open_store(&config, true).await?;
    let ledger = haul_record::open(&config).await?;
    let who = haul_deploy::Whoami::current();
    let (id, trigger) = match what {
        What::Deploy(release) => {
            if release.is_none() && e.code.get_ref() != "build" {
                return Err(Failure::Usage(format!(
                    "environment `{env}` takes its code from `{}`: promote a release (haul promote) or give --release",
                    e.code.get_ref()
                )));
            }
            let id = match release {
                Some(r) => ReleaseId::parse(&r).map_err(DeployError::from)?,
                None => {
                    let observer: std::sync::Arc<dyn Observer> = ctx.printer.clone();
                    let r = haul_deploy::build_release(&config, app, &who, &observer).await?;
                    ReleaseId::parse(&r.id).map_err(DeployError::from)?
                }
            };
            register(&config, &ledger, app, &id, &who.user).await?;
            super::spool::spool_for_deploy(ctx, &config, &store, app, &id).await?;
            (id, if opts.promote { Trigger::Promote } else { Trigger::Deploy })
        }
        What::Rollback(to) => {
            let choice = to.map_or(Choice::Previous, Choice::Given);
            (choose(&config, &store, app, env, choice).await?, Trigger::Rollback)
        }
    };
    refuse_quarantined(&ledger, app, env, &id, opts.force).await?;
    let undoes = match trigger {
        Trigger::Rollback => ledger.live(app, env).await?.and_then(|d| d.undone_by_rollback_to(&id)),
        _ => None,
    };
    let d = NewDeployment {
        app: app.into(),
        env: env.into(),
        release: id.clone(),
        trigger,
        actor: who.user.clone(),
        reason: opts.reason.clone(),
        config_digest: config.digest.clone(),
        undoes,
        force: None,
    };
    let h = &who.holder;
    let runner = haul_ledger::Runner {
        machine: h.machine.clone(),
        pid: h.pid,
        boot: h.boot.clone(),
        pidns: h.pidns.clone(),
        start: h.start,
    };
    let (deployment, ttl) = ledger.start_deployment(&config, &d, opts.force, Some(runner)).await?;
    let renewing = renew(&ledger, deployment, ttl);
    let kind = if trigger == Trigger::Rollback { RunKind::Rollback } else { RunKind::Deploy };
    let g = Go {
        config: &config,
        store: &store,
        app,
        env,
        release: &id,
        kind,
        deployment,
        by: &who.user,
        reason: opts.reason.clone(),
    };
    let record = async |host: &str, seen: &HostSeen| {
        let _ = ledger.record_host(deployment, &seen.result(host), &who.user).await;
    };
    // SIGINT or SIGTERM stops following (the agents go on with what is
    // blessed); the deployment is still closed in the ledger.
    let outcome = tokio::select! {
        r = go(&*ctx.printer, &g, record) => r.map_err(Failure::from),
        s = stopped() => Err(Failure::Run(format!(
            "interrupted by {s} while following the agents; what was blessed stands (see `haul store ls`)"
        ))),
    };
    renewing.abort();
    let (status, hosts) = match &outcome {
        Ok(r) => haul_pull::run::closing(r),
        Err(_) => (DeploymentStatus::Failed, Vec::new()),
    };
    let message = match &outcome {
        Ok(r) => r.message.clone(),
        Err(Failure::Usage(m) | Failure::Run(m) | Failure::Config(m)) => Some(m.clone()),
        Err(Failure::Reported) => None,
    };
    let message = message.map(|m| clean(&m, Kind::Block));
    ledger.finish_deployment(deployment, status, message.as_deref(), &hosts, &who.user).await?;
    finish(ctx, Ok(outcome?), opts.json)
}

/// Waits for SIGINT or SIGTERM; names it.
async fn stopped() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Registers a deploy's release in the ledger from the local cache.
async fn register(config: &Config, ledger: &Client, app: &str, id: &ReleaseId, actor: &str) -> Result {
    let cache = haul_release::ReleaseCache::new(config.cache_dir());
    let r = cache.get(app, id).map_err(DeployError::from)?;
    let new = NewRelease {
        app: r.app.clone(),
        id: id.clone(),
        digest: r.digest.clone(),
        revision: r.revision.clone(),
        built_by: r.built_by.clone(),
        created: r
            .created
            .parse()
            .map_err(|e| Failure::Run(format!("release {id}: its build time {:?}: {e}", r.created)))?,
        files: r.manifest.files() as i64,
        bytes: r.manifest.bytes() as i64,
    };
    ledger.register_release(&new, actor).await?;
    Ok(())
}

fn renew(ledger: &Client, id: i64, ttl: Duration) -> tokio::task::JoinHandle<()> {
    let ledger = ledger.clone();
    tokio::spawn(async move {
        let every = (ttl / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            let _ = ledger.renew_lease(id, ttl).await;
        }
    })
}

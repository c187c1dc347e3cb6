//! `history`, `verify`, `approve`, `quarantine`, `audit verify`, and the
//! recording of every deploy and rollback into the ledger.

use super::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use crate::store::Store;
use haul_deploy::{DeployError, DeployReport, Engine, HostStatus, Observer, Plan, PlanKind, Progress, ReleaseChoice};
use haul_ledger::{HostResult, NewDeployment, NewRelease, NewVerification, Status, Trigger, VerificationResult};

pub async fn open(config: &haul_config::Config) -> Result<Store> {
    Store::open(config).await
}

/// Records one run: before it (a deploy, whose release is known), each
/// host's progress while it runs, and the outcome after.
pub struct Recorder {
    deployment: Option<i64>,
    /// The deployment a rollback undoes: the one live before it.
    undoes: Option<i64>,
    live: Option<LiveHosts>,
}

/// Passes progress on to the terminal and reports each host's phase to the
/// ledger as the run goes, so the server's event stream and dashboard show
/// a deployment while it runs. Reports go through a channel to one task,
/// which sends each burst together; the final report is what stands.
struct Tee {
    inner: std::sync::Arc<dyn Observer>,
    phase: std::sync::Mutex<String>,
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<HostResult>>>,
}

impl Observer for Tee {
    fn progress(&self, p: Progress<'_>) {
        match &p {
            Progress::Phase(phase) => *self.phase.lock().expect("not poisoned") = phase.to_string(),
            Progress::Finished { host: Some(host), ok, elapsed, .. } => {
                let phase = self.phase.lock().expect("not poisoned").clone();
                let h = HostResult {
                    host: host.to_string(),
                    phase,
                    status: if *ok { "running" } else { "failed" }.into(),
                    error: None,
                    elapsed_ms: elapsed.as_millis() as i64,
                };
                if let Some(tx) = &*self.tx.lock().expect("not poisoned") {
                    let _ = tx.send(h);
                }
            }
            _ => {}
        }
        self.inner.progress(p);
    }
}

struct LiveHosts {
    tee: std::sync::Arc<Tee>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveHosts {
    fn start(store: &Store, engine: &mut Engine, id: i64) -> LiveHosts {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<HostResult>();
        let tee = std::sync::Arc::new(Tee {
            inner: engine.observer.clone(),
            phase: Default::default(),
            tx: std::sync::Mutex::new(Some(tx)),
        });
        engine.observer = tee.clone();
        let (store, actor) = (store.clone(), engine.who.user.clone());
        let task = tokio::spawn(async move {
            let mut last: std::collections::HashMap<String, (String, String)> = Default::default();
            while let Some(first) = rx.recv().await {
                // Take every report waiting; one per host and phase (or
                // failure) is enough, and each host's newest stands.
                let mut burst = std::collections::BTreeMap::new();
                let mut next = Some(first);
                while let Some(h) = next {
                    let key = (h.phase.clone(), h.status.clone());
                    if last.get(&h.host) != Some(&key) {
                        last.insert(h.host.clone(), key);
                        burst.insert(h.host.clone(), h);
                    }
                    next = rx.try_recv().ok();
                }
                // Sent together, so the ledger commits them as one batch.
                // Progress is best effort: the final report still lands.
                let mut sends = tokio::task::JoinSet::new();
                for h in burst.into_values() {
                    let (store, actor) = (store.clone(), actor.clone());
                    sends.spawn(async move { store.record_host(id, &h, &actor).await });
                }
                while sends.join_next().await.is_some() {}
            }
        });
        LiveHosts { tee, task }
    }

    /// Stops reporting, once every report sent so far has landed.
    async fn stop(self, engine: &mut Engine) {
        self.tee.tx.lock().expect("not poisoned").take();
        engine.observer = self.tee.inner.clone();
        let _ = self.task.await;
    }
}

impl Recorder {
    pub async fn start(ledger: &Store, engine: &mut Engine, plan: &Plan, trigger: Trigger) -> Result<Recorder> {
        let (PlanKind::Deploy, ReleaseChoice::Given { id }) = (plan.kind, &plan.release) else {
            // A rollback undoes what the ledger says is live before it.
            let undoes = ledger.live(&plan.app, &plan.env).await?.map(|d| d.id);
            return Ok(Recorder { deployment: None, undoes, live: None });
        };
        let r = engine.cached(&plan.app, id).map_err(DeployError::from)?;
        let new = NewRelease {
            app: r.app.clone(),
            id: r.id.clone(),
            digest: r.digest.clone(),
            revision: r.revision.clone(),
            built_by: r.built_by.clone(),
            created: r.created.clone(),
            files: r.manifest.files() as i64,
            bytes: r.manifest.bytes() as i64,
        };
        ledger.register_release(&new, &engine.who.user).await?;
        let d = NewDeployment {
            app: plan.app.clone(),
            env: plan.env.clone(),
            release: id.clone(),
            trigger,
            actor: engine.who.user.clone(),
            reason: engine.reason.clone(),
            config_digest: engine.config.digest.clone(),
            undoes: None,
        };
        let id = ledger.start_deployment(&d, engine.config.lock.stale_after.0).await?;
        let live = LiveHosts::start(ledger, engine, id);
        Ok(Recorder { deployment: Some(id), undoes: None, live: Some(live) })
    }

    pub async fn finish(
        self,
        ledger: &Store,
        engine: &mut Engine,
        plan: &Plan,
        result: &std::result::Result<DeployReport, DeployError>,
    ) -> Result {
        if let Some(live) = self.live {
            live.stop(engine).await;
        }
        let (report, status, message) = match result {
            Ok(r) => (Some(r), Status::Succeeded, r.message.clone()),
            Err(DeployError::Failed(r)) => {
                let back = r.hosts.iter().any(|h| h.status == HostStatus::SwitchedBack);
                (Some(&**r), if back { Status::SwitchedBack } else { Status::Failed }, r.message.clone())
            }
            Err(e) => (None, Status::Failed, Some(e.to_string())),
        };
        let id = match self.deployment {
            Some(id) => id,
            None => {
                // A rollback: recorded once it is known where it went.
                let Some(release) = report.and_then(|r| r.release.clone()) else { return Ok(()) };
                let d = NewDeployment {
                    app: plan.app.clone(),
                    env: plan.env.clone(),
                    release,
                    trigger: Trigger::Rollback,
                    actor: engine.who.user.clone(),
                    reason: engine.reason.clone(),
                    config_digest: engine.config.digest.clone(),
                    undoes: self.undoes,
                };
                ledger.start_deployment(&d, engine.config.lock.stale_after.0).await?
            }
        };
        let hosts: Vec<HostResult> = report
            .map(|r| {
                r.hosts
                    .iter()
                    .map(|h| HostResult {
                        host: h.host.clone(),
                        phase: h.reached.to_string(),
                        status: h.status.to_string(),
                        // Output captured from hosts: kept, made storable.
                        error: h.error.as_deref().map(|e| haul_ledger::text::clean(e, haul_ledger::text::Kind::Block)),
                        elapsed_ms: h.elapsed_ms as i64,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = message.map(|m| haul_ledger::text::clean(&m, haul_ledger::text::Kind::Block));
        ledger.finish_deployment(id, status, message.as_deref(), &hosts, &engine.who.user).await
    }
}

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
            d.release.clone(),
            format!("{}{undoes}", d.trigger.as_str()),
            d.status.as_str().to_string(),
            d.actor.clone(),
            d.started.clone(),
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
    Ok(())
}

pub async fn approve(ctx: &Ctx, app: &str, release: &str, env: &str, comment: Option<&str>) -> Result {
    let config = ctx.config()?;
    config.env(env).map_err(|e| Failure::Usage(e.to_string()))?;
    let ledger = open(&config).await?;
    let actor = haul_deploy::Whoami::current().user;
    ledger.approve(app, release, env, &actor, comment).await?;
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
    ledger.quarantine(app, release, reason, &actor).await?;
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

pub async fn promote(ctx: &Ctx, app: &str, to: &str, release: Option<&str>, opts: super::deploy::RunOpts) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let env = config.env(to).map_err(|e| Failure::Usage(e.to_string()))?;
    let upstream = env.code.get_ref().clone();
    if upstream == "build" {
        return Err(Failure::Usage(format!(
            "environment `{to}` builds its own code; deploy to it (`haul deploy {app} {to}`) instead of promoting"
        )));
    }
    let ledger = open(&config).await?;
    let candidates = ledger.candidates(&config, app, to).await?;
    let chosen = haul_ledger::choose(candidates, release, app, &upstream, to).map_err(|(msg, left)| {
        if opts.json && !left.is_empty() {
            ctx.printer.json(&left);
        }
        Failure::Run(msg)
    })?;
    ctx.printer
        .err(&format!("promoting {} from {upstream} (deployment {}) to {to}", chosen.release, chosen.deployment));
    if opts.dry_run {
        ctx.printer.out(&chosen.release);
        return Ok(());
    }
    let plan = haul_deploy::plan_deploy(&config, app, to, ReleaseChoice::Given { id: chosen.release }, &[])?;
    super::deploy::run(ctx, config, plan, opts).await
}

//! `history`, `verify`, `approve`, `quarantine`, `audit verify`, and the
//! recording of every deploy and rollback into the ledger.

use super::Ctx;
use crate::error::{Failure, Result};
use crate::printer::table;
use crate::store::Store;
use haul_deploy::{DeployError, DeployReport, Engine, HostStatus, Observer, Plan, PlanKind, Progress, ReleaseChoice};
use haul_ledger::{
    DeploymentStatus, HostResult, NewDeployment, NewRelease, NewVerification, ReleaseId, Trigger, VerificationResult,
};

pub async fn open(config: &haul_config::Config) -> Result<Store> {
    Store::open(config).await
}

/// Records one run: before it (once the gate let its release in), each
/// host's progress while it runs, and the outcome after.
pub struct Recorder {
    deployment: i64,
    live: Option<LiveHosts>,
    /// Renews the deployment's lease while the run goes on.
    renewing: Option<tokio::task::JoinHandle<()>>,
}

/// This process, as the ledger records the runner of a deployment.
fn runner(engine: &Engine) -> haul_ledger::Runner {
    let h = &engine.who.holder;
    haul_ledger::Runner {
        machine: h.machine.clone(),
        pid: h.pid,
        boot: h.boot.clone(),
        pidns: h.pidns.clone(),
        start: h.start,
    }
}

/// Renews deployment `id`'s lease (of `ttl`) every third of it until
/// aborted. A
/// refused renewal (someone closed the deployment) is said once.
fn renew(store: &Store, engine: &Engine, id: i64, ttl: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let (store, observer) = (store.clone(), engine.observer.clone());
    tokio::spawn(async move {
        let every = (ttl / 3).max(std::time::Duration::from_millis(100));
        let mut warned = false;
        loop {
            tokio::time::sleep(every).await;
            if let Err(Failure::Run(e) | Failure::Usage(e) | Failure::Config(e)) = store.renew_lease(id, ttl).await
                && !warned
            {
                observer
                    .progress(Progress::Warn(&format!("the ledger's lease of deployment {id} was not renewed: {e}")));
                warned = true;
            }
        }
    })
}

/// Passes progress on to the terminal and reports each host's phase to the
/// ledger as the run goes, so the server's event stream and dashboard show
/// a deployment while it runs. Reports go through a channel to one task,
/// which sends each burst together; the final report is what stands.
struct Tee {
    inner: std::sync::Arc<dyn Observer>,
    /// The phase the run is in (the engine announces `build` first).
    phase: std::sync::Mutex<haul_ledger::Phase>,
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<HostResult>>>,
}

impl Observer for Tee {
    fn progress(&self, p: Progress<'_>) {
        match &p {
            Progress::Phase(phase) => {
                // The engine's phases are the ledger's words.
                if let Ok(phase) = phase.to_string().parse() {
                    *self.phase.lock().expect("not poisoned") = phase;
                }
            }
            Progress::Finished { host: Some(host), ok, elapsed, .. } => {
                let phase = *self.phase.lock().expect("not poisoned");
                let h = HostResult {
                    host: host.to_string(),
                    phase,
                    status: if *ok { haul_ledger::HostStatus::Running } else { haul_ledger::HostStatus::Failed },
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
            phase: std::sync::Mutex::new(haul_ledger::Phase::Build),
            tx: std::sync::Mutex::new(Some(tx)),
        });
        engine.observer = tee.clone();
        let (store, actor) = (store.clone(), engine.who.user.clone());
        let task = tokio::spawn(async move {
            let mut last: std::collections::HashMap<String, (haul_ledger::Phase, haul_ledger::HostStatus)> =
                Default::default();
            while let Some(first) = rx.recv().await {
                // Take every report waiting; one per host and phase (or
                // failure) is enough, and each host's newest stands.
                let mut burst = std::collections::BTreeMap::new();
                let mut next = Some(first);
                while let Some(h) = next {
                    let key = (h.phase, h.status);
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
    /// Records the run before any host changes: its release (a deploy
    /// registers it), judged by the gate (`force` breaks glass), and, for a
    /// rollback, the deployment it undoes.
    pub async fn start(
        ledger: &Store,
        engine: &mut Engine,
        plan: &Plan,
        trigger: Trigger,
        force: bool,
    ) -> Result<Recorder> {
        let ReleaseChoice::Given { id } = &plan.release else {
            return Err(Failure::Run("the release must be chosen before the run is recorded".into()));
        };
        let mut undoes = None;
        if plan.kind == PlanKind::Deploy {
            let r = engine.cached(&plan.app, id).map_err(DeployError::from)?;
            let new = NewRelease {
                app: r.app.clone(),
                id: ReleaseId::parse(&r.id).map_err(|e| Failure::Run(e.to_string()))?,
                digest: r.digest.clone(),
                revision: r.revision.clone(),
                built_by: r.built_by.clone(),
                created: r.created.parse().map_err(|e| {
                    Failure::Run(format!("release {} of {}: `created` {:?} is not a time: {e}", r.id, r.app, r.created))
                })?,
                files: r.manifest.files() as i64,
                bytes: r.manifest.bytes() as i64,
            };
            ledger.register_release(&new, &engine.who.user).await?;
        } else {
            // A rollback undoes what the ledger says is live before it.
            undoes = ledger.live(&plan.app, &plan.env).await?.map(|d| d.id);
        }
        let d = NewDeployment {
            app: plan.app.clone(),
            env: plan.env.clone(),
            release: ReleaseId::parse(id).map_err(|e| Failure::Usage(e.to_string()))?,
            trigger,
            actor: engine.who.user.clone(),
            reason: engine.reason.clone(),
            config_digest: engine.config.digest.clone(),
            undoes,
            force: None,
        };
        let (id, ttl) = ledger.start_deployment(&engine.config, &d, force, Some(runner(engine))).await?;
        let renewing = Some(renew(ledger, engine, id, ttl));
        let live = LiveHosts::start(ledger, engine, id);
        Ok(Recorder { deployment: id, live: Some(live), renewing })
    }

    pub async fn finish(
        self,
        ledger: &Store,
        engine: &mut Engine,
        result: &std::result::Result<DeployReport, DeployError>,
    ) -> Result {
        if let Some(r) = &self.renewing {
            r.abort();
        }
        if let Some(live) = self.live {
            live.stop(engine).await;
        }
        let (report, status, message) = match result {
            Ok(r) => (Some(r), DeploymentStatus::Succeeded, r.message.clone()),
            Err(DeployError::Failed(r)) => {
                let back = r.hosts.iter().any(|h| h.status == HostStatus::SwitchedBack);
                (
                    Some(&**r),
                    if back { DeploymentStatus::SwitchedBack } else { DeploymentStatus::Failed },
                    r.message.clone(),
                )
            }
            Err(e) => (None, DeploymentStatus::Failed, Some(e.to_string())),
        };
        let id = self.deployment;
        // The engine's phases and host statuses are the ledger's words.
        let word = |e: haul_ledger::UnknownName| Failure::Run(e.to_string());
        let hosts: Vec<HostResult> = report
            .map(|r| {
                r.hosts
                    .iter()
                    .map(|h| {
                        Ok(HostResult {
                            host: h.host.clone(),
                            phase: h.reached.to_string().parse().map_err(word)?,
                            status: h.status.to_string().parse().map_err(word)?,
                            // Output captured from hosts: kept, made storable.
                            error: h
                                .error
                                .as_deref()
                                .map(|e| haul_ledger::text::clean(e, haul_ledger::text::Kind::Block)),
                            elapsed_ms: h.elapsed_ms as i64,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
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
    let plan = haul_deploy::plan_deploy(&config, app, to, ReleaseChoice::Given { id: chosen }, &[])?;
    super::deploy::run(ctx, config, plan, opts).await
}

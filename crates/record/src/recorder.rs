//! The record of one engine run: started before any host changes (its
//! release registered and judged by the gate, a deployment under a lease),
//! kept current while the run goes (hosts reported, the lease renewed), and
//! finished with the outcome the engine reports.

use crate::live::LiveHosts;
use crate::{Client, RecordError, Result};
use haul_deploy::{DeployError, DeployReport, Engine, HostStatus, Plan, PlanKind, Progress, ReleaseChoice};
use haul_ledger::ReleaseId;
use haul_ledger::text::{Kind, clean};
use haul_ledger::{DeploymentStatus, HostResult, NewDeployment, NewRelease, Trigger};
use std::time::Duration;

/// Records one run; made by [`Recorder::start`], ended by
/// [`Recorder::finish`].
pub struct Recorder {
    client: Client,
    deployment: i64,
    live: LiveHosts,
    /// Renews the deployment's lease while the run goes on.
    renewing: tokio::task::JoinHandle<()>,
}

/// This process, as the ledger records the runner of a deployment.
pub fn runner(engine: &Engine) -> haul_ledger::Runner {
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
/// aborted. A refused renewal (someone closed the deployment) is said once,
/// as a warning to the engine's observer.
fn renew(client: &Client, engine: &Engine, id: i64, ttl: Duration) -> tokio::task::JoinHandle<()> {
    let (client, observer) = (client.clone(), engine.observer.clone());
    tokio::spawn(async move {
        let every = (ttl / 3).max(Duration::from_millis(100));
        let mut warned = false;
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = client.renew_lease(id, ttl).await
                && !warned
            {
                observer
                    .progress(Progress::Warn(&format!("the ledger's lease of deployment {id} was not renewed: {e}")));
                warned = true;
            }
        }
    })
}

impl Recorder {
    /// Records the run before any host changes: its release (a deploy
    /// registers it), judged by the gate (`force` breaks glass), and, for a
    /// rollback, the deployment it undoes. From here until
    /// [`Recorder::finish`], `engine`'s observer also reports to the ledger.
    pub async fn start(
        client: &Client,
        engine: &mut Engine,
        plan: &Plan,
        trigger: Trigger,
        force: bool,
    ) -> Result<Recorder> {
        let ReleaseChoice::Given { id } = &plan.release else {
            return Err(RecordError::Unchosen);
        };
        let mut undoes = None;
        if plan.kind == PlanKind::Deploy {
            let r = engine.cached(&plan.app, id).map_err(DeployError::from)?;
            let new = NewRelease {
                app: r.app.clone(),
                id: ReleaseId::parse(&r.id).map_err(|e| RecordError::BadRecord {
                    app: r.app.clone(),
                    id: r.id.clone(),
                    message: e.to_string(),
                })?,
                digest: r.digest.clone(),
                revision: r.revision.clone(),
                built_by: r.built_by.clone(),
                created: r.created.parse().map_err(|e| RecordError::BadRecord {
                    app: r.app.clone(),
                    id: r.id.clone(),
                    message: format!("its build time {:?} is not an RFC 3339 time ({e})", r.created),
                })?,
                files: r.manifest.files() as i64,
                bytes: r.manifest.bytes() as i64,
            };
            client.register_release(&new, &engine.who.user).await?;
        } else {
            // A rollback undoes what the ledger says is live before it
            // (nothing, when that runs the release it goes back to).
            let to = ReleaseId::parse(id).map_err(DeployError::from)?;
            undoes = client.live(&plan.app, &plan.env).await?.and_then(|d| d.undone_by_rollback_to(&to));
        }
        let d = NewDeployment {
            app: plan.app.clone(),
            env: plan.env.clone(),
            release: ReleaseId::parse(id).map_err(DeployError::from)?,
            trigger,
            actor: engine.who.user.clone(),
            reason: engine.reason.clone(),
            config_digest: engine.config.digest.clone(),
            undoes,
            force: None,
        };
        let (id, ttl) = client.start_deployment(&engine.config, &d, force, Some(runner(engine))).await?;
        let renewing = renew(client, engine, id, ttl);
        let live = LiveHosts::start(client, engine, id);
        Ok(Recorder { client: client.clone(), deployment: id, live, renewing })
    }

    /// The deployment this run is recorded as.
    pub fn deployment(&self) -> i64 {
        self.deployment
    }

    /// Records the run's outcome: succeeded, switched back (some host went
    /// back to where it was) or failed, with every host's part.
    pub async fn finish(self, engine: &mut Engine, result: &std::result::Result<DeployReport, DeployError>) -> Result {
        self.renewing.abort();
        self.live.stop(engine).await;
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
        let hosts: Vec<HostResult> = report.map(host_results).unwrap_or_default();
        let message = message.map(|m| clean(&m, Kind::Block));
        self.client.finish_deployment(self.deployment, status, message.as_deref(), &hosts, &engine.who.user).await
    }
}

/// What the ledger keeps of each host of a report: output captured from
/// hosts is kept, made storable. Push and pull runs record hosts alike.
pub fn host_results(r: &DeployReport) -> Vec<HostResult> {
    r.hosts
        .iter()
        .map(|h| HostResult {
            host: h.host.clone(),
            phase: h.reached,
            status: h.status,
            error: h.error.as_deref().map(|e| clean(e, Kind::Block)),
            elapsed_ms: h.elapsed_ms as i64,
        })
        .collect()
}

//! Writes that start and end deployments: registering a release, starting
//! a deployment (the in-transaction half of the gate and the one-at-a-time
//! rule), the transition table, host results and the final report.

use crate::batch::Batch;
use crate::{
    Deployment, DeploymentStatus, HostResult, Lease, Ledger, LedgerError, NewDeployment, NewRelease, Result, Trigger,
    gate, lease, now, read::deployment_from, text,
};
use serde_json::json;
use sqlx::Row;

impl Ledger {
    /// Records a built release; recording the same release again is a no-op.
    pub async fn register_release(&self, r: &NewRelease, actor: &str) -> Result<bool> {
        text::release(r, actor)?;
        let (r, actor) = (r.clone(), actor.to_string());
        self.batched(move |b| {
            let (r, actor) = (r.clone(), actor.clone());
            Box::pin(async move { Self::register_release_in(b, &r, &actor).await })
        })
        .await
    }

    pub(crate) async fn register_release_in(b: &mut Batch, r: &NewRelease, actor: &str) -> Result<bool> {
        let exists = sqlx::query("SELECT digest FROM releases WHERE app = $1 AND id = $2")
            .bind(&r.app)
            .bind(r.id.as_str())
            .fetch_optional(&mut *b.tx)
            .await?;
        if let Some(row) = exists {
            let digest: String = row.try_get("digest")?;
            if digest != r.digest {
                return Err(LedgerError::Refused(format!(
                    "release {} of {} is already recorded with another digest",
                    r.id, r.app
                )));
            }
            return Ok(false);
        }
        sqlx::query("INSERT INTO releases (app, id, digest, revision, built_by, created, files, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&r.app)
            .bind(r.id.as_str())
            .bind(&r.digest)
            .bind(&r.revision)
            .bind(&r.built_by)
            .bind(r.created.to_string())
            .bind(r.files)
            .bind(r.bytes)
            .execute(&mut *b.tx)
            .await?;
        Self::audit(b, actor, "release.registered", &format!("{}/{}", r.app, r.id), json!(r)).await?;
        Ok(true)
    }

    /// Starts a deployment (status `running`) and returns its id, with no
    /// runner recorded; see [`Ledger::start_leased`].
    pub async fn start_deployment(&self, d: &NewDeployment, stale_after: std::time::Duration) -> Result<i64> {
        self.start_leased(d, stale_after, None).await
    }

    /// Starts a deployment (status `running`) and returns its id. A
    /// rollback undoes what is live when it starts (see
    /// [`Ledger::undone_by_rollback`]; a client's `undoes` must name a deployment of
    /// the same app and environment, and is only a hint), which turns
    /// `undone` when the rollback succeeds. With a [`Lease`], the runner is recorded and
    /// holds the environment until `lease.ttl` from now, renewed with
    /// [`Ledger::renew_lease`].
    ///
    /// One deployment of an app runs in an environment at a time. Another
    /// one still running is closed as failed, saying why, when its runner
    /// is certainly dead (by `lease.judge`), its lease ran out, or (recorded
    /// without a lease) it started more than `stale_after` ago; only a
    /// forced rollback (the break-glass) takes over from one still live,
    /// closing it as abandoned; otherwise this one is refused. A quarantined
    /// release is refused unless forced. The rest of the gate
    /// ([`Ledger::judge`]) is the caller's to ask first.
    /// Writers are serialized on the audit head first, so two racing starts
    /// cannot both see the environment free.
    pub async fn start_leased(
        &self,
        d: &NewDeployment,
        stale_after: std::time::Duration,
        lease: Option<Lease>,
    ) -> Result<i64> {
        text::deployment(d)?;
        let d = d.clone();
        self.batched(move |b| {
            let (d, lease) = (d.clone(), lease.clone());
            Box::pin(async move { Self::start_deployment_in(b, &d, stale_after, lease).await })
        })
        .await
    }

    pub(crate) async fn start_deployment_in(
        b: &mut Batch,
        d: &NewDeployment,
        stale_after: std::time::Duration,
        lease: Option<Lease>,
    ) -> Result<i64> {
        if let Some(undone) = d.undoes {
            let u = Self::deployment_in(b, undone).await?; // a rollback undoes a deployment that exists
            Self::may_undo(d, &u)?;
        }
        // What a rollback undoes is the ledger's to say, read here in the
        // transaction: the client's `undoes` was read before, and a deploy
        // may have gone live since.
        let d = &NewDeployment { undoes: Self::undone_by_rollback(b, d).await?, ..d.clone() };
        // The gate judged the release before this write; what may have
        // changed since (a quarantine, a deployment started) is checked
        // again here, in the transaction.
        let mut overrode = d.force.as_ref().map(|f| f.overrode.clone());
        if let Some(q) = Self::quarantine_of(&mut b.tx, &d.app, &d.release).await? {
            let why = gate::quarantined(&q);
            match &mut overrode {
                None => return Err(LedgerError::Refused(format!("release {} of {} is {why}", d.release, d.app))),
                Some(o) if !o.contains(&why) => o.push(why),
                Some(_) => {}
            }
        }
        let running = sqlx::query("SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id")
            .bind(&d.app)
            .bind(&d.env)
            .bind(DeploymentStatus::Running.as_str())
            .fetch_all(&mut *b.tx)
            .await?;
        let running = running.iter().map(deployment_from).collect::<Result<Vec<_>>>()?;
        // Only a forced rollback takes over from a deployment still live.
        let takes_over = d.trigger == Trigger::Rollback && overrode.is_some();
        let mut closing = Vec::new();
        for other in &running {
            match lease::abandoned(other, stale_after, lease.as_ref()) {
                Some(why) => closing.push((other, why)),
                None if takes_over => {
                    if let Some(o) = &mut overrode {
                        o.push(lease::still_running(other));
                    }
                    let why = format!("abandoned: a forced rollback by {} took over while it was running", d.actor);
                    closing.push((other, why));
                }
                None => return Err(lease::busy(other, d.trigger)),
            }
        }
        for (other, why) in closing {
            Self::transition(b, other, DeploymentStatus::Failed, Some(&why), &d.actor).await?;
        }
        let forced = overrode.filter(|o| !o.is_empty()).map(|o| o.join("; "));
        let started = crate::time::text(now());
        let (runner, until) = match &lease {
            Some(l) => (
                l.runner.as_ref().map(|r| serde_json::to_string(r).expect("runner serializes")),
                Some(crate::time::text(l.until())),
            ),
            None => (None, None),
        };
        let row = sqlx::query(
            "INSERT INTO deployments (app, env, release, trigger, actor, reason, config_digest, status, undoes, started, forced, runner, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(&d.app)
        .bind(&d.env)
        .bind(d.release.as_str())
        .bind(d.trigger.as_str())
        .bind(&d.actor)
        .bind(&d.reason)
        .bind(&d.config_digest)
        .bind(DeploymentStatus::Running.as_str())
        .bind(d.undoes)
        .bind(&started)
        .bind(&forced)
        .bind(runner)
        .bind(until)
        .fetch_one(&mut *b.tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let mut data = json!(d);
        data["id"] = json!(id);
        data["forced"] = json!(forced);
        if let Some(r) = lease.as_ref().and_then(|l| l.runner.as_ref()) {
            data["runner"] = json!(r);
        }
        Self::audit(b, &d.actor, "deployment.started", &id.to_string(), data).await?;
        if let Some(overrode) = &forced {
            let data = json!({
                "id": id, "app": d.app, "env": d.env, "release": d.release, "trigger": d.trigger,
                "reason": d.reason, "overrode": overrode,
            });
            Self::audit(b, &d.actor, "deployment.forced", &id.to_string(), data).await?;
        }
        Ok(id)
    }

    /// A deployment as it stands inside the batch (read once per batch:
    /// a burst of reports about one deployment costs one lookup).
    pub(crate) async fn deployment_in(b: &mut Batch, id: i64) -> Result<Deployment> {
        if let Some(d) = b.deployments.get(&id) {
            return Ok(d.clone());
        }
        let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *b.tx)
            .await?
            .ok_or(LedgerError::NoDeployment(id))?;
        let d = deployment_from(&row)?;
        b.deployments.insert(id, d.clone());
        Ok(d)
    }

    /// Whether `d` may name `u` as the deployment it undoes: only a
    /// rollback undoes, and only a deployment of its own app and
    /// environment. Checked before anything is written. Which deployment
    /// it undoes is then [`Ledger::undone_by_rollback`]'s to say.
    pub(crate) fn may_undo(d: &NewDeployment, u: &Deployment) -> Result<()> {
        let invalid = |message: String| Err(LedgerError::Invalid { field: "undoes".into(), message });
        if d.trigger != Trigger::Rollback {
            return invalid(format!("only a rollback undoes a deployment; this one is a {}", d.trigger.as_str()));
        }
        if (u.app.as_str(), u.env.as_str()) != (d.app.as_str(), d.env.as_str()) {
            return invalid(format!(
                "deployment {} is of {} in {}, not of {} in {}: a rollback undoes a deployment of its own app and environment",
                u.id, u.app, u.env, d.app, d.env
            ));
        }
        Ok(())
    }

    /// The deployment a rollback `d` undoes, as the ledger stands in this
    /// batch: none for anything but a rollback, none when nothing is live
    /// or the live release is the one it goes to (re-asserting what runs
    /// undoes nothing); otherwise the first of the succeeded deployments
    /// that have run the live release since another one last went live:
    /// the change that brought it in, not a redeploy or re-assert of it
    /// after (so the change, not its repeat, is counted as undone).
    pub(crate) async fn undone_by_rollback(b: &mut Batch, d: &NewDeployment) -> Result<Option<i64>> {
        if d.trigger != Trigger::Rollback {
            return Ok(None);
        }
        let succeeded = DeploymentStatus::Succeeded.as_str();
        let live = sqlx::query(
            "SELECT id, release FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(&d.app)
        .bind(&d.env)
        .bind(succeeded)
        .fetch_optional(&mut *b.tx)
        .await?;
        let Some(live) = live else { return Ok(None) };
        let release: String = live.try_get("release")?;
        if release == d.release.as_str() {
            return Ok(None);
        }
        let first = sqlx::query(
            "SELECT MIN(id) AS first FROM deployments WHERE app = $1 AND env = $2 AND status = $3 AND id > \
             COALESCE((SELECT MAX(id) FROM deployments WHERE app = $1 AND env = $2 AND status = $3 AND release <> $4), 0)",
        )
        .bind(&d.app)
        .bind(&d.env)
        .bind(succeeded)
        .bind(&release)
        .fetch_one(&mut *b.tx)
        .await?;
        Ok(first.try_get::<Option<i64>, _>("first")?)
    }

    /// Whether the transition table lets `d` become `to`.
    pub(crate) fn may_become(d: &Deployment, to: DeploymentStatus) -> Result<()> {
        if d.status.can_become(to) {
            return Ok(());
        }
        Err(LedgerError::Refused(format!(
            "deployment {} is {}; it cannot become {}",
            d.id,
            d.status.as_str(),
            to.as_str()
        )))
    }

    pub(crate) async fn transition(
        b: &mut Batch,
        d: &Deployment,
        to: DeploymentStatus,
        message: Option<&str>,
        actor: &str,
    ) -> Result<()> {
        let (id, from) = (d.id, d.status);
        Self::may_become(d, to)?;
        let finished = (to != DeploymentStatus::Undone).then(|| crate::time::text(now()));
        sqlx::query("UPDATE deployments SET status = $1, message = COALESCE($2, message), finished = COALESCE($3, finished) WHERE id = $4")
            .bind(to.as_str())
            .bind(message)
            .bind(finished)
            .bind(id)
            .execute(&mut *b.tx)
            .await?;
        b.deployments.remove(&id);
        let data = json!({
            "id": id, "app": d.app, "env": d.env, "release": d.release, "trigger": d.trigger,
            "from": from.as_str(), "to": to.as_str(), "message": message,
        });
        Self::audit(b, actor, &format!("deployment.{}", to.as_str()), &id.to_string(), data).await
    }

    /// Records a host's result in the batch; a batch writes its host
    /// results together before it commits, the newest for each host.
    pub(crate) fn upsert_host(b: &mut Batch, d: &Deployment, h: &HostResult) {
        b.hosts.insert((d.id, h.host.clone()), h.clone());
    }

    /// Records (or updates) one host's part while a deployment runs.
    pub async fn record_host(&self, id: i64, h: &HostResult, actor: &str) -> Result<()> {
        text::host("", h)?;
        text::check("actor", actor, text::Kind::Line)?;
        let (h, actor) = (h.clone(), actor.to_string());
        self.batched(move |b| {
            let (h, actor) = (h.clone(), actor.clone());
            Box::pin(async move { Self::record_host_in(b, id, &h, &actor).await })
        })
        .await
    }

    pub(crate) async fn record_host_in(b: &mut Batch, id: i64, h: &HostResult, actor: &str) -> Result<()> {
        let d = Self::deployment_in(b, id).await?;
        if d.status != DeploymentStatus::Running {
            return Err(LedgerError::Refused(format!(
                "deployment {id} is {}; host results can only change while it runs",
                d.status.as_str()
            )));
        }
        Self::upsert_host(b, &d, h);
        let data = json!({"deployment": id, "app": d.app, "env": d.env, "release": d.release, "host": h});
        Self::audit(b, actor, "host.result", &id.to_string(), data).await?;
        Ok(())
    }

    /// Ends a deployment with `status` and each host's result.
    pub async fn finish_deployment(
        &self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&str>,
        hosts: &[HostResult],
        actor: &str,
    ) -> Result<()> {
        text::finish(message, hosts, actor)?;
        let (message, hosts, actor) = (message.map(str::to_string), hosts.to_vec(), actor.to_string());
        self.batched(move |b| {
            let (message, hosts, actor) = (message.clone(), hosts.clone(), actor.clone());
            Box::pin(async move { Self::finish_deployment_in(b, id, status, message.as_deref(), &hosts, &actor).await })
        })
        .await
    }

    pub(crate) async fn finish_deployment_in(
        b: &mut Batch,
        id: i64,
        status: DeploymentStatus,
        message: Option<&str>,
        hosts: &[HostResult],
        actor: &str,
    ) -> Result<()> {
        let d = Self::deployment_in(b, id).await?;
        Self::may_become(&d, status)?;
        // A rollback that succeeded undoes the deployment it went back from,
        // unless a rollback racing it already did (or it never succeeded):
        // what it undoes was read before it ran.
        let undone = match (status, d.undoes) {
            (DeploymentStatus::Succeeded, Some(undone)) => {
                let u = Self::deployment_in(b, undone).await?;
                (u.status == DeploymentStatus::Succeeded).then_some(u)
            }
            _ => None,
        };
        for h in hosts {
            Self::upsert_host(b, &d, h);
        }
        Self::transition(b, &d, status, message, actor).await?;
        if let Some(u) = undone {
            Self::transition(b, &u, DeploymentStatus::Undone, None, actor).await?;
        }
        Ok(())
    }
}

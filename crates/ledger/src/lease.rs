//! Runner leases: how a deployment whose runner died stops blocking its
//! environment.
//!
//! A deployment is recorded `running` before its hosts are touched, and only
//! its runner closes it. A runner killed with `kill -9` (an OOM kill, a
//! cancelled CI job, a reboot) never does, so the ledger records who runs it
//! (a [`Runner`]: machine, boot, pid namespace, pid, start time) and a lease
//! the live runner renews. A new deployment that finds one running closes it
//! as failed, saying why, when
//! - its runner is certainly dead, as judged by the caller on its own machine
//!   (the ledger itself knows no processes: [`Judge`]), or
//! - its lease ran out: the runner stopped renewing, wherever it ran; or
//! - it has no lease (recorded by an older haul) and started longer than
//!   `[lock] stale_after` ago.
//!
//! A renewal is liveness, not history: it changes only `lease_until` and
//! writes no audit entry. Closing a deployment is audited as any transition.

use crate::batch::Batch;
use crate::time::{age, text};
use crate::{Deployment, DeploymentStatus, Ledger, LedgerError, Result, Runner, Trigger, now, now_plus};
use std::sync::Arc;

/// Says why a runner is certainly no longer running, or `None` when it may
/// still run (another machine, another namespace, anything uncertain).
pub type Judge = Arc<dyn Fn(&Runner) -> Option<String> + Send + Sync>;

/// What a runner records when it starts a deployment.
#[derive(Clone)]
pub struct Lease {
    pub runner: Option<Runner>,
    /// How long the lease holds unless renewed.
    pub ttl: std::time::Duration,
    /// Judges the runners of deployments found running.
    pub judge: Judge,
}

impl Lease {
    pub(crate) fn until(&self) -> jiff::Timestamp {
        now_plus(self.ttl)
    }
}

/// Why `other` (found running when a deployment starts) no longer holds
/// the environment, or `None` when it does.
pub(crate) fn abandoned(other: &Deployment, stale_after: std::time::Duration, lease: Option<&Lease>) -> Option<String> {
    if let (Some(runner), Some(lease)) = (&other.runner, lease)
        && let Some(why) = (lease.judge)(runner)
    {
        return Some(format!("abandoned: its runner is gone: {why}"));
    }
    match &other.lease_until {
        Some(until) if *until < now() => {
            Some(format!("abandoned: its runner stopped renewing its lease, which ran out at {}", text(*until)))
        }
        Some(_) => None,
        None => {
            let age = age(other.started);
            (age >= stale_after).then(|| {
                format!("abandoned: still running after {}s; closed when a new deployment started", age.as_secs())
            })
        }
    }
}

/// What holds the environment: `other`, still running.
pub(crate) fn still_running(other: &Deployment) -> String {
    let by = other.runner.as_ref().map(|r| format!(" on {} (pid {})", r.machine, r.pid)).unwrap_or_default();
    format!(
        "deployment {} ({} of {} by {}{by}, started {}) is still running in {}",
        other.id,
        other.trigger.as_str(),
        other.release,
        other.actor,
        text(other.started),
        other.env
    )
}

/// The refusal for a deployment that still holds the environment.
pub(crate) fn busy(other: &Deployment, trigger: Trigger) -> LedgerError {
    LedgerError::Busy(format!(
        "{}; it may be retried once that one finishes{}",
        still_running(other),
        if trigger == Trigger::Rollback {
            " (a rollback that must take over breaks glass with --force --reason)"
        } else {
            ""
        }
    ))
}

impl Ledger {
    /// Extends the lease of running deployment `id` to `ttl` from now.
    /// Refused once the deployment is no longer running (someone closed it:
    /// its runner should stop).
    pub async fn renew_lease(&self, id: i64, ttl: std::time::Duration) -> Result<jiff::Timestamp> {
        self.batched(move |b| Box::pin(async move { Self::renew_lease_in(b, id, ttl).await })).await
    }

    async fn renew_lease_in(b: &mut Batch, id: i64, ttl: std::time::Duration) -> Result<jiff::Timestamp> {
        let d = Self::deployment_in(b, id).await?;
        if d.status != DeploymentStatus::Running {
            return Err(LedgerError::Refused(format!(
                "deployment {id} is {}{}; its lease is not renewed",
                d.status.as_str(),
                d.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            )));
        }
        let until = now_plus(ttl);
        sqlx::query("UPDATE deployments SET lease_until = $1 WHERE id = $2")
            .bind(text(until))
            .bind(id)
            .execute(&mut *b.tx)
            .await?;
        b.deployments.remove(&id);
        Ok(until)
    }

    /// Closes, as failed with `reason`, every deployment of `app` still
    /// recorded as running in `env` (a person clearing a run that died).
    /// Returns the ids closed.
    pub async fn close_running(&self, app: &str, env: &str, reason: &str, actor: &str) -> Result<Vec<i64>> {
        crate::text::fields(&[("app", app), ("env", env), ("actor", actor)], &[("reason", Some(reason))])?;
        let (app, env, reason, actor) = (app.to_string(), env.to_string(), reason.to_string(), actor.to_string());
        self.batched(move |b| {
            let (app, env, reason, actor) = (app.clone(), env.clone(), reason.clone(), actor.clone());
            Box::pin(async move {
                let rows =
                    sqlx::query("SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id")
                        .bind(&app)
                        .bind(&env)
                        .bind(DeploymentStatus::Running.as_str())
                        .fetch_all(&mut *b.tx)
                        .await?;
                let mut closed = Vec::new();
                for r in &rows {
                    let d = crate::read::deployment_from(r)?;
                    let why = format!("closed by hand: {reason}");
                    Self::transition(b, &d, DeploymentStatus::Failed, Some(&why), &actor).await?;
                    closed.push(d.id);
                }
                Ok(closed)
            })
        })
        .await
    }
}

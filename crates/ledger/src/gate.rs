//! The gate: the one rule for which release may go live in an environment,
//! whatever the way in (a deploy, a promotion, a rollback; from the CLI over
//! a database, or through the server's API).
//!
//! - Nothing enters that the ledger does not know (an unregistered release
//!   is bad input, not something to break glass over).
//! - Nothing enters that is quarantined.
//! - An environment whose code comes from another receives only releases
//!   that came from it: a deploy or promotion takes a release that succeeded
//!   upstream and meets the environment's requirements (the promotion
//!   chooser's own checks); a rollback may also go back to a release that
//!   was live in the environment before (it came in through the gate then).
//!
//! The gate only judges; the caller refuses, or, for someone allowed to
//! break glass, goes ahead with a [`Force`](crate::Force) naming what was
//! overridden, which the ledger records on the deployment and in the audit
//! log. What may change between the judgement and the write (a quarantine,
//! another deployment starting) is checked again inside the write.

use crate::{Candidate, DeploymentStatus, Ledger, Quarantine, Requirements, Result, Trigger};
use serde::Serialize;

/// Where an environment's code comes from and what it requires: what the
/// gate judges an incoming release against (from `haul.toml`; the ledger
/// never stores configuration).
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// The environment it takes releases from; `None` when it builds its own.
    pub upstream: Option<String>,
    pub requires: Requirements,
}

/// The gate's judgement of one release entering one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Whether the ledger knows the release at all.
    pub registered: bool,
    /// Every rule it breaks, in words; empty when it may enter.
    pub refusals: Vec<String>,
    /// The upstream candidates and what each lacks, when the environment
    /// takes its code from another (for a refusal to show what could go).
    pub candidates: Vec<Candidate>,
}

impl Verdict {
    pub fn admitted(&self) -> bool {
        self.registered && self.refusals.is_empty()
    }

    /// The refusal in full: the release, the environment, every reason.
    pub fn message(&self, app: &str, env: &str, release: &str) -> String {
        if !self.registered {
            return format!("release {release} of {app} is not in the ledger (it was never built and recorded)");
        }
        let mut msg = format!("release {release} of {app} may not enter {env}:");
        for r in &self.refusals {
            msg.push_str(&format!("\n  - {r}"));
        }
        msg
    }
}

/// A quarantine in the words every refusal uses.
pub(crate) fn quarantined(q: &Quarantine) -> String {
    format!("quarantined by {} at {}: {}", q.actor, crate::time::text(q.at), q.reason)
}

impl Ledger {
    /// Judges `release` of `app` entering `env` by `trigger`, against
    /// what `pipeline` says of `env`.
    pub async fn judge(
        &self,
        app: &str,
        env: &str,
        release: &str,
        trigger: Trigger,
        pipeline: &Pipeline,
    ) -> Result<Verdict> {
        let registered = sqlx::query("SELECT id FROM releases WHERE app = $1 AND id = $2")
            .bind(app)
            .bind(release)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        let mut refusals = Vec::new();
        if let Some(q) = self.quarantined(app, release).await? {
            refusals.push(quarantined(&q));
        }
        let mut candidates = Vec::new();
        if let Some(up) = &pipeline.upstream {
            candidates = self.candidates(app, up, env, &pipeline.requires).await?;
            let was_live = trigger == Trigger::Rollback && self.was_live(app, env, release).await?;
            match candidates.iter().find(|c| c.release == release) {
                _ if was_live => {}
                None => refusals.push(format!(
                    "{env} takes its code from {up}, and {release} never succeeded there: deploy to {up}, \
                     then promote (`haul promote {app} --to {env}`)"
                )),
                Some(c) => {
                    for u in &c.unmet {
                        if !refusals.contains(u) {
                            refusals.push(u.clone());
                        }
                    }
                }
            }
        }
        Ok(Verdict { registered, refusals, candidates })
    }

    /// Whether `release` ran successfully in `env` before (and may so be
    /// gone back to).
    async fn was_live(&self, app: &str, env: &str, release: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT id FROM deployments WHERE app = $1 AND env = $2 AND release = $3 AND (status = $4 OR status = $5) LIMIT 1",
        )
        .bind(app)
        .bind(env)
        .bind(release)
        .bind(DeploymentStatus::Succeeded.as_str())
        .bind(DeploymentStatus::Undone.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

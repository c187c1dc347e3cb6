//! What `/metrics` reads from the ledger: per app and environment, how many
//! deployments ended how, how long each took, how many host failures there
//! were, and when the last one succeeded, so "nothing reached prod in 14
//! days" or "deploys got slow" can be an alert. A read of what is
//! recorded, never a second count that could drift from it.

use crate::{DeploymentStatus, Ledger, Result};
use jiff::Timestamp;
use sqlx::Row;
use std::collections::BTreeMap;

/// One app in one environment, over every finished deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvMetrics {
    /// Deployments by how they ended (`succeeded`, `failed`, …).
    pub by_status: BTreeMap<String, u64>,
    /// Each finished deployment's duration, in seconds.
    pub durations_s: Vec<f64>,
    /// Host results that ended `failed`.
    pub host_failures: u64,
    /// When the newest deployment that went live finished.
    pub last_success: Option<Timestamp>,
}

impl Ledger {
    /// [`EnvMetrics`] for every (app, env) the ledger has a finished
    /// deployment of.
    pub async fn env_metrics(&self) -> Result<BTreeMap<(String, String), EnvMetrics>> {
        let rows =
            sqlx::query("SELECT app, env, status, started, finished FROM deployments WHERE finished IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        let mut out: BTreeMap<(String, String), EnvMetrics> = BTreeMap::new();
        for r in &rows {
            let key = (r.try_get::<String, _>("app")?, r.try_get::<String, _>("env")?);
            let status: String = r.try_get("status")?;
            let started: Option<Timestamp> = r.try_get::<String, _>("started")?.parse().ok();
            let finished: Option<Timestamp> = r.try_get::<String, _>("finished")?.parse().ok();
            let m = out.entry(key).or_default();
            if let (Some(s), Some(f)) = (started, finished) {
                m.durations_s.push((f.as_microsecond() - s.as_microsecond()).max(0) as f64 / 1e6);
            }
            let live =
                [DeploymentStatus::Succeeded.as_str(), DeploymentStatus::Undone.as_str()].contains(&status.as_str());
            if live && finished > m.last_success {
                m.last_success = finished;
            }
            *m.by_status.entry(status).or_default() += 1;
        }
        let failures = sqlx::query(
            "SELECT d.app, d.env, COUNT(*) AS n FROM host_results h JOIN deployments d ON d.id = h.deployment \
             WHERE h.status = $1 GROUP BY d.app, d.env",
        )
        .bind(haul_api::HostStatus::Failed.as_str())
        .fetch_all(&self.pool)
        .await?;
        for r in &failures {
            let key = (r.try_get::<String, _>("app")?, r.try_get::<String, _>("env")?);
            out.entry(key).or_default().host_failures = r.try_get::<i64, _>("n")?.max(0) as u64;
        }
        Ok(out)
    }
}

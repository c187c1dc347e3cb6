//! The four DORA measures of an app in an environment over a window:
//! deployment frequency, lead time, change failure rate, time to restore.
//!
//! The ledger already holds every deployment, its trigger, its outcome, the
//! rollback that undid it and when its release was built, so the measures
//! are a read, never a second record that could disagree. What counts is
//! one rule, [`measure`], pure over the rows, and stated on
//! [`haul_api::pipeline::Dora`]:
//! - a change is a `deploy` or `promote` deployment that finished in the
//!   window (a rollback restores, it is not a change);
//! - it went live when it succeeded (even if later undone); frequency and
//!   lead time (release built → deployment finished) count those;
//! - it failed when it ended `failed` or `switched_back`, or was undone;
//! - a failure is restored by the rollback that undid it, else by the next
//!   deployment that succeeded in the environment after it ended.

use crate::read::deployment_from;
use crate::{Deployment, DeploymentStatus, Ledger, LedgerError, Result, Trigger};
use haul_api::pipeline::Dora;
use jiff::Timestamp;

/// A deployment with when its release was built (`None`: not registered).
pub type Row = (Deployment, Option<Timestamp>);

impl Ledger {
    /// The DORA measures of `app` in `env` over the window from `since` to
    /// `until`.
    pub async fn dora(&self, app: &str, env: &str, since: Timestamp, until: Timestamp) -> Result<Dora> {
        let rows = sqlx::query(
            "SELECT d.*, r.created AS built FROM deployments d \
             LEFT JOIN releases r ON r.app = d.app AND r.id = d.release \
             WHERE d.app = $1 AND d.env = $2 AND d.finished IS NOT NULL AND d.finished >= $3 ORDER BY d.id",
        )
        .bind(app)
        .bind(env)
        .bind(crate::time::text(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            use sqlx::Row as _;
            let built: Option<String> = r.try_get("built")?;
            let built = built
                .map(|b| {
                    b.parse::<Timestamp>().map_err(|e| LedgerError::BadRow {
                        table: "releases",
                        column: "created".into(),
                        message: format!("{b:?} is not a time: {e}"),
                    })
                })
                .transpose()?;
            out.push((deployment_from(r)?, built));
        }
        Ok(measure(&out, since, until))
    }
}

/// The measures over `rows` (one environment's finished deployments, in id
/// order, none finished before `since`).
pub fn measure(rows: &[Row], since: Timestamp, until: Timestamp) -> Dora {
    let in_window = |d: &Deployment| d.finished.is_some_and(|f| f >= since && f <= until);
    let is_change = |d: &Deployment| matches!(d.trigger, Trigger::Deploy | Trigger::Promote);
    let went_live = |d: &Deployment| matches!(d.status, DeploymentStatus::Succeeded | DeploymentStatus::Undone);
    let secs = |from: Timestamp, to: Timestamp| (to.as_microsecond() - from.as_microsecond()).max(0) as f64 / 1e6;

    let changes: Vec<&Row> = rows.iter().filter(|(d, _)| is_change(d) && in_window(d)).collect();
    let live: Vec<&Row> = changes.iter().copied().filter(|(d, _)| went_live(d)).collect();
    let leads: Vec<f64> = live.iter().filter_map(|(d, built)| Some(secs((*built)?, d.finished?))).collect::<Vec<_>>();
    let failed: Vec<&Deployment> = changes
        .iter()
        .map(|(d, _)| d)
        .filter(|d| {
            matches!(d.status, DeploymentStatus::Failed | DeploymentStatus::SwitchedBack | DeploymentStatus::Undone)
        })
        .collect();
    let mut restores = Vec::new();
    let mut unrestored = 0;
    for f in &failed {
        let restored = if f.status == DeploymentStatus::Undone {
            // From when the change went live to the rollback that undid it.
            rows.iter()
                .map(|(d, _)| d)
                .find(|d| d.undoes == Some(f.id) && d.status == DeploymentStatus::Succeeded)
                .and_then(|d| Some((f.finished?, d.finished?)))
        } else {
            rows.iter()
                .map(|(d, _)| d)
                .find(|d| d.id > f.id && went_live(d))
                .and_then(|d| Some((f.finished?, d.finished?)))
        };
        match restored {
            Some((from, to)) if to <= until => restores.push(secs(from, to)),
            _ => unrestored += 1,
        }
    }
    let days = secs(since, until) / 86_400.0;
    Dora {
        changes: changes.len() as u64,
        went_live: live.len() as u64,
        per_day: if days > 0.0 { live.len() as f64 / days } else { 0.0 },
        lead_time_s: median(leads),
        change_failure_rate: (!changes.is_empty()).then(|| failed.len() as f64 / changes.len() as f64),
        failures: failed.len() as u64,
        time_to_restore_s: median(restores),
        unrestored,
    }
}

/// The median (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

#[cfg(test)]
mod tests;

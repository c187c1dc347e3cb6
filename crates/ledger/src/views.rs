//! Read queries for the dashboard's pages: what landed on each host, what
//! is running, what touched a host, what undid a deployment.
//!
//! They live apart from the writes so the pages can ask exactly what they
//! show in a few queries, on SQLite and PostgreSQL alike, without the
//! server knowing SQL.

use crate::read::deployment_from;
use crate::rows::{Text, bad_row};
use crate::{Deployment, DeploymentStatus, HostResult, HostStatus, Ledger, LedgerError, Phase, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

pub use crate::promotion::{Assessment, Check, CheckKind};

/// A host's part in a deployment, with the deployment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostDeployment {
    pub deployment: Deployment,
    pub result: HostResult,
}

/// The columns of a deployment joined with one of its host results (the
/// host's status as `host_status`, beside the deployment's `status`).
macro_rules! joined {
    ($($rest:expr),*) => {
        concat!(
            "SELECT d.*, h.host, h.phase, h.status AS host_status, h.error, h.elapsed_ms \
             FROM host_results h JOIN deployments d ON d.id = h.deployment ",
            $($rest),*
        )
    };
}

/// Host results that count as the release having landed on the host: the
/// host ended `ok` or `unchanged` in a deployment that succeeded.
macro_rules! landed {
    () => {
        "h.status IN ('ok', 'unchanged') AND d.status IN ('succeeded', 'undone')"
    };
}

/// The host result of a joined row: its own columns, but its status as
/// `host_status` (the deployment's is `status`).
fn host_result_from(r: &AnyRow) -> Result<HostResult> {
    let bad = |e| bad_row("host_results", e);
    Ok(HostResult {
        host: r.try_get("host")?,
        phase: r.try_get::<Text<Phase>, _>("phase").map_err(bad)?.0,
        status: r
            .try_get::<Text<HostStatus>, _>("host_status")
            .map_err(|e| match bad(e) {
                // Named as stored, not by the query's alias.
                LedgerError::BadRow { table, message, .. } => {
                    LedgerError::BadRow { table, column: "status".into(), message }
                }
                e => e,
            })?
            .0,
        error: r.try_get("error")?,
        elapsed_ms: r.try_get("elapsed_ms")?,
    })
}

fn joined(rows: &[AnyRow]) -> Result<Vec<HostDeployment>> {
    rows.iter().map(|r| Ok(HostDeployment { deployment: deployment_from(r)?, result: host_result_from(r)? })).collect()
}

impl Ledger {
    /// For each of `hosts`, the newest result of `app` that landed there (a
    /// host status `ok` or `unchanged` in a deployment that succeeded, in
    /// any environment): what the host runs as far as the ledger knows.
    /// Hosts with no such result are left out.
    pub async fn landed(&self, app: &str, hosts: &[String]) -> Result<Vec<HostDeployment>> {
        let mut out = Vec::new();
        for host in hosts {
            let sql = joined!("WHERE d.app = $1 AND h.host = $2 AND ", landed!(), " ORDER BY d.id DESC LIMIT 1");
            let rows = sqlx::query(sql).bind(app).bind(host).fetch_all(&self.pool).await?;
            out.extend(joined(&rows)?);
        }
        Ok(out)
    }

    /// Per app, the newest result that landed on `host`, by app name.
    pub async fn landed_on_host(&self, host: &str) -> Result<Vec<HostDeployment>> {
        let sql = joined!("WHERE h.host = $1 AND ", landed!(), " ORDER BY d.id DESC");
        let rows = sqlx::query(sql).bind(host).fetch_all(&self.pool).await?;
        let mut seen = std::collections::BTreeSet::new();
        let mut out: Vec<HostDeployment> =
            joined(&rows)?.into_iter().filter(|hd| seen.insert(hd.deployment.app.clone())).collect();
        out.sort_by(|a, b| a.deployment.app.cmp(&b.deployment.app));
        Ok(out)
    }

    /// The newest deployments that touched `host` (it has a result in
    /// them), newest first.
    pub async fn host_history(&self, host: &str, limit: i64) -> Result<Vec<HostDeployment>> {
        let sql = joined!("WHERE h.host = $1 ORDER BY d.id DESC LIMIT $2");
        let rows = sqlx::query(sql).bind(host).bind(limit).fetch_all(&self.pool).await?;
        joined(&rows)
    }

    /// The deployment of `app` running in `env` now, if any.
    pub async fn running(&self, app: &str, env: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(
            "SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(app)
        .bind(env)
        .bind(DeploymentStatus::Running.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(deployment_from).transpose()
    }

    /// The rollback that undid deployment `id`, if one did.
    pub async fn undone_by(&self, id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM deployments WHERE undoes = $1 AND status = $2 ORDER BY id LIMIT 1")
            .bind(id)
            .bind(DeploymentStatus::Succeeded.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Whether `host` appears in any host result.
    pub async fn host_known(&self, host: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM host_results WHERE host = $1")
            .bind(host)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    /// The release id tagged `tag`.
    fn rid(tag: &str) -> ReleaseId {
        ReleaseId::parse(&format!("{tag}-0123456789ab")).unwrap()
    }

    fn new(env: &str, release: &str, trigger: Trigger, undoes: Option<i64>) -> NewDeployment {
        NewDeployment {
            app: "web".into(),
            env: env.into(),
            release: rid(release),
            trigger,
            actor: "alice".into(),
            reason: None,
            config_digest: "cfg".into(),
            undoes,
            force: None,
        }
    }

    fn host(h: &str, status: &str) -> HostResult {
        HostResult { host: h.into(), phase: Phase::Verify, status: status.parse().unwrap(), error: None, elapsed_ms: 5 }
    }

    async fn views(url: &str) {
        let l = Ledger::open(url).await.unwrap();
        let hosts = ["a".to_string(), "b".to_string()];
        assert!(l.landed("web", &hosts).await.unwrap().is_empty());
        assert!(!l.host_known("a").await.unwrap());

        let d1 = l.start_deployment(&new("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
        assert_eq!(l.running("web", "staging").await.unwrap().map(|d| d.id), Some(d1));
        l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[host("a", "ok"), host("b", "ok")], "alice")
            .await
            .unwrap();
        assert_eq!(l.running("web", "staging").await.unwrap(), None);
        // r2 lands on a only; a failed deploy lands nowhere.
        let d2 = l.start_deployment(&new("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
        l.finish_deployment(d2, DeploymentStatus::Succeeded, None, &[host("a", "unchanged")], "alice").await.unwrap();
        let d3 = l.start_deployment(&new("staging", "r3", Trigger::Deploy, None), HOUR).await.unwrap();
        l.finish_deployment(
            d3,
            DeploymentStatus::Failed,
            Some("boom"),
            &[host("a", "failed"), host("b", "ok")],
            "alice",
        )
        .await
        .unwrap();

        let landed: Vec<(String, ReleaseId, HostStatus)> = l
            .landed("web", &hosts)
            .await
            .unwrap()
            .into_iter()
            .map(|hd| (hd.result.host, hd.deployment.release, hd.result.status))
            .collect();
        assert_eq!(
            landed,
            vec![("a".into(), rid("r2"), HostStatus::Unchanged), ("b".into(), rid("r1"), HostStatus::Ok)]
        );
        let on_b = l.landed_on_host("b").await.unwrap();
        assert_eq!(
            (on_b.len(), on_b[0].deployment.id, on_b[0].deployment.status),
            (1, d1, DeploymentStatus::Succeeded)
        );
        let history: Vec<(i64, HostStatus)> =
            l.host_history("a", 10).await.unwrap().into_iter().map(|hd| (hd.deployment.id, hd.result.status)).collect();
        assert_eq!(history, vec![(d3, HostStatus::Failed), (d2, HostStatus::Unchanged), (d1, HostStatus::Ok)]);
        assert_eq!(l.host_history("a", 1).await.unwrap().len(), 1);
        assert!(l.host_known("b").await.unwrap());

        // A rollback of d2 undoes it and says so.
        let d4 = l.start_deployment(&new("staging", "r1", Trigger::Rollback, Some(d2)), HOUR).await.unwrap();
        assert_eq!(l.undone_by(d2).await.unwrap(), None, "not while it runs");
        l.finish_deployment(d4, DeploymentStatus::Succeeded, None, &[host("a", "ok")], "alice").await.unwrap();
        assert_eq!(l.undone_by(d2).await.unwrap(), Some(d4));
        assert_eq!(l.landed("web", &hosts[..1]).await.unwrap()[0].deployment.id, d4);

        // Promotion: every requirement judged, met or not.
        // r1's candidate deployment is its newest success upstream: d4.
        l.report_verification(&NewVerification {
            deployment: d4,
            name: "smoke".into(),
            result: VerificationResult::Pass,
            link: None,
            reporter: "ci".into(),
        })
        .await
        .unwrap();
        let req = Requirements { verifications: vec!["smoke".into(), "load".into()], soak: Some(HOUR), approvals: 1 };
        let a = l.assess("web", "staging", "prod", &req).await.unwrap();
        let r1 = a.iter().find(|c| c.release == rid("r1")).unwrap();
        let judged: Vec<(CheckKind, bool)> = r1.checks.iter().map(|c| (c.kind.clone(), c.met)).collect();
        assert_eq!(
            judged,
            vec![
                (CheckKind::Verification("smoke".into()), true),
                (CheckKind::Verification("load".into()), false),
                (CheckKind::Soak, false),
                (CheckKind::Approvals, false),
            ]
        );
        assert!(!r1.qualifies());
        // The refusal's wording is the unmet checks' details.
        let c = l.candidates("web", "staging", "prod", &req).await.unwrap();
        let unmet: Vec<String> = r1.checks.iter().filter(|c| !c.met).map(|c| c.detail.clone()).collect();
        assert_eq!(c.iter().find(|c| c.release == rid("r1")).unwrap().unmet, unmet);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sqlite_views() {
        let dir = tempfile::tempdir().unwrap();
        views(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn postgres_views() {
        let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
        views(&pg.create_database("views").unwrap()).await;
    }
}

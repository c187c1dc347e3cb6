//! Read queries: deployments, releases, host results, verifications,
//! approvals and quarantines as the ledger holds them. Rows become the
//! model through `rows`, so a stored value the model cannot hold is an
//! error naming its table and column.

use crate::rows::{all, one};
use crate::{
    Approval, Deployment, DeploymentStatus, HostResult, Ledger, LedgerError, Quarantine, Release, Result, Verification,
};
use sqlx::any::AnyRow;

impl Ledger {
    pub(crate) async fn quarantine_of(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        app: &str,
        release: &str,
    ) -> Result<Option<Quarantine>> {
        let row =
            sqlx::query("SELECT app, release, reason, actor, at FROM quarantines WHERE app = $1 AND release = $2")
                .bind(app)
                .bind(release)
                .fetch_optional(&mut **tx)
                .await?;
        row.map(|r| one("quarantines", &r)).transpose()
    }

    /// The quarantine of `release` of `app`, if it is quarantined.
    pub async fn quarantined(&self, app: &str, release: &str) -> Result<Option<Quarantine>> {
        let mut tx = self.pool.begin().await?;
        let q = Self::quarantine_of(&mut tx, app, release).await?;
        tx.commit().await?;
        Ok(q)
    }

    /// A page of approvals of `app` (optionally of one release and one
    /// environment) older than `before` (an id), newest first.
    pub async fn approval_list(
        &self,
        app: &str,
        release: Option<&str>,
        env: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Approval>> {
        let rows = sqlx::query(
            "SELECT * FROM approvals WHERE app = $1 AND ($2 IS NULL OR release = $3) AND ($4 IS NULL OR env = $5) \
             AND ($6 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
        )
        .bind(app)
        .bind(release)
        .bind(release)
        .bind(env)
        .bind(env)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        all("approvals", &rows)
    }

    /// The quarantined releases of `app`, newest first.
    pub async fn quarantine_list(&self, app: &str) -> Result<Vec<Quarantine>> {
        let rows =
            sqlx::query("SELECT app, release, reason, actor, at FROM quarantines WHERE app = $1 ORDER BY at DESC")
                .bind(app)
                .fetch_all(&self.pool)
                .await?;
        all("quarantines", &rows)
    }

    /// Deployments, newest first, optionally of one app and environment.
    pub async fn deployments(&self, app: Option<&str>, env: Option<&str>, limit: i64) -> Result<Vec<Deployment>> {
        self.deployments_before(app, env, None, limit).await
    }

    /// A page of deployments older than `before` (an id), newest first.
    pub async fn deployments_before(
        &self,
        app: Option<&str>,
        env: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Deployment>> {
        let rows = sqlx::query(
            "SELECT * FROM deployments WHERE ($1 IS NULL OR app = $2) AND ($3 IS NULL OR env = $4) \
             AND ($5 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7",
        )
        .bind(app)
        .bind(app)
        .bind(env)
        .bind(env)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        all("deployments", &rows)
    }

    /// A page of `app`'s releases older than `before` (an id), newest first.
    pub async fn releases(&self, app: &str, before: Option<&str>, limit: i64) -> Result<Vec<Release>> {
        let rows =
            sqlx::query("SELECT * FROM releases WHERE app = $1 AND ($2 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4")
                .bind(app)
                .bind(before)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        all("releases", &rows)
    }

    pub async fn deployment(&self, id: i64) -> Result<Deployment> {
        let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(LedgerError::NoDeployment(id))?;
        deployment_from(&row)
    }

    pub async fn host_results(&self, deployment: i64) -> Result<Vec<HostResult>> {
        let rows = sqlx::query("SELECT * FROM host_results WHERE deployment = $1 ORDER BY host")
            .bind(deployment)
            .fetch_all(&self.pool)
            .await?;
        all("host_results", &rows)
    }

    /// The verifications of a deployment that stand: the newest of each name.
    pub async fn verifications(&self, deployment: i64) -> Result<Vec<Verification>> {
        let rows = sqlx::query("SELECT * FROM verifications WHERE deployment = $1 ORDER BY id")
            .bind(deployment)
            .fetch_all(&self.pool)
            .await?;
        let mut by_name: std::collections::BTreeMap<String, Verification> = Default::default();
        for v in all::<Verification>("verifications", &rows)? {
            by_name.insert(v.name.clone(), v);
        }
        Ok(by_name.into_values().collect())
    }

    /// The deployment whose release the ledger says `env` runs: the newest
    /// that succeeded and was not undone since.
    pub async fn live(&self, app: &str, env: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(
            "SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(app)
        .bind(env)
        .bind(DeploymentStatus::Succeeded.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(deployment_from).transpose()
    }
}

/// A row of `deployments` (or of a query selecting `d.*`).
pub(crate) fn deployment_from(r: &AnyRow) -> Result<Deployment> {
    one("deployments", r)
}

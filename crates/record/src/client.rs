//! The one face of the ledger every recording and reading goes through, so
//! that a command (or an agent) never knows whether it talks to the
//! database or to a `haul server`, and so that another reporter (an agent
//! with its own channel) can stand in by implementing it.
//!
//! The trait is object safe (each method returns a boxed future), so a
//! client is passed around as [`Client`], `Arc<dyn LedgerClient>`, and the
//! recorder's background tasks can hold a clone.

use crate::{RecordError, Result};
use haul_config::Config;
use haul_ledger::ReleaseId;
use haul_ledger::{
    AuditReport, Candidate, Deployment, DeploymentStatus, HostResult, NewDeployment, NewRelease, NewVerification,
    Runner, Verification,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What a [`LedgerClient`] method answers, once awaited.
pub type Answer<'a, T = ()> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A ledger client, shared by the tasks of a run.
pub type Client = Arc<dyn LedgerClient>;

/// Records and reads the ledger. Over a database, the gate is judged here by
/// the local `haul.toml`; through a server, by the server's own, and writes
/// are recorded under its token's name (with `actor` as the person it acts
/// for where the API takes one).
pub trait LedgerClient: Send + Sync {
    fn register_release<'a>(&'a self, r: &'a NewRelease, actor: &'a str) -> Answer<'a>;

    /// Starts a deployment once the gate lets its release into the
    /// environment. `force` is the break-glass: the deployment goes ahead
    /// and is recorded as forced, with what the gate refused (through a
    /// server, the token needs `admin`). It is run by `runner` (this
    /// process), holding a lease that [`LedgerClient::renew_lease`] renews;
    /// returns the deployment's id and the lease's length (`config`'s
    /// `lock.lease` over a database, or the server's own).
    fn start_deployment<'a>(
        &'a self,
        config: &'a Config,
        d: &'a NewDeployment,
        force: bool,
        runner: Option<Runner>,
    ) -> Answer<'a, (i64, Duration)>;

    /// Renews the lease of running deployment `id` (for `ttl` from now; a
    /// server uses its own `lock.lease`).
    fn renew_lease(&self, id: i64, ttl: Duration) -> Answer<'_>;

    /// Closes, as failed with `reason`, what is still recorded as running of
    /// `app` in `env`; returns the deployments closed.
    fn close_running<'a>(&'a self, app: &'a str, env: &'a str, reason: &'a str, actor: &'a str)
    -> Answer<'a, Vec<i64>>;

    /// Records one host's progress while the deployment runs.
    fn record_host<'a>(&'a self, id: i64, h: &'a HostResult, actor: &'a str) -> Answer<'a>;

    fn finish_deployment<'a>(
        &'a self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&'a str>,
        hosts: &'a [HostResult],
        actor: &'a str,
    ) -> Answer<'a>;

    fn report_verification<'a>(&'a self, v: &'a NewVerification) -> Answer<'a>;

    fn approve<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleaseId,
        env: &'a str,
        actor: &'a str,
        comment: Option<&'a str>,
    ) -> Answer<'a>;

    fn quarantine<'a>(&'a self, app: &'a str, release: &'a ReleaseId, reason: &'a str, actor: &'a str) -> Answer<'a>;

    fn deployments<'a>(&'a self, app: Option<&'a str>, env: Option<&'a str>, limit: i64)
    -> Answer<'a, Vec<Deployment>>;

    fn verifications(&self, deployment: i64) -> Answer<'_, Vec<Verification>>;

    /// The deployment the ledger says `env` runs.
    fn live<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<Deployment>>;

    /// Where a failed deploy of `app` to `env` goes back to.
    fn last_verified<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<String>>;

    /// The app's quarantined releases, which no run goes to (read with
    /// what `env` runs, so a `deploy` token may read it).
    fn quarantined<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Vec<String>>;

    /// Releases that could be promoted into `env` and what each lacks,
    /// judged by `config`, or by the server's `haul.toml`.
    fn candidates<'a>(&'a self, config: &'a Config, app: &'a str, env: &'a str) -> Answer<'a, Vec<Candidate>>;

    fn verify_audit(&self) -> Answer<'_, AuditReport>;

    /// Every environment of `app` in promotion order with what waits where
    /// and the DORA measures over `days` days, judged by `config`, or by
    /// the server's `haul.toml`.
    fn pipeline<'a>(&'a self, config: &'a Config, app: &'a str, days: u32) -> Answer<'a, haul_api::pipeline::Pipeline>;

    /// Records a content sync that ran; returns its id. Through a server,
    /// under its token's name (a protected target needs `admin`).
    fn record_content_sync<'a>(&'a self, s: &'a haul_ledger::NewContentSync) -> Answer<'a, i64>;

    /// Asks, before a sync runs, whether its record will be taken: through
    /// a server, whose config and token decide (a protected target needs
    /// `admin` and a reason); over a database, the local config decided.
    fn may_sync_content<'a>(&'a self, s: &'a haul_ledger::NewContentSync) -> Answer<'a>;
}

/// The ledger `config` names in `[ledger] url`: a `haul server` when the
/// url is `http(s)://` (its token read from `[ledger] token_env`, by
/// default `HAUL_TOKEN`), the database otherwise.
pub async fn open(config: &Config) -> Result<Client> {
    let url = config.ledger_url();
    if url.starts_with("http://") || url.starts_with("https://") {
        let var = config.ledger.token_env.clone().unwrap_or_else(|| "HAUL_TOKEN".into());
        let Ok(token) = std::env::var(&var) else {
            return Err(RecordError::NoToken { config: config.path.clone(), url, var });
        };
        return Ok(Arc::new(crate::Server::new(&url, token)?));
    }
    Ok(Arc::new(haul_ledger::Ledger::open(&url).await?))
}

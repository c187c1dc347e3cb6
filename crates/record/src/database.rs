//! The ledger's database as a [`LedgerClient`]: the gate is judged here, by
//! the `haul.toml` of the run, as the server judges it by its own.

use crate::RecordError;
use crate::client::{Answer, LedgerClient};
use haul_config::Config;
use haul_ledger::ReleaseId;
use haul_ledger::{
    AuditReport, Candidate, Deployment, DeploymentStatus, Force, HostResult, Lease, Ledger, NewDeployment, NewRelease,
    NewVerification, Runner, Verification,
};
use std::time::Duration;

impl LedgerClient for Ledger {
    fn register_release<'a>(&'a self, r: &'a NewRelease, actor: &'a str) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::register_release(self, r, actor).await.map(drop)?) })
    }

    fn start_deployment<'a>(
        &'a self,
        config: &'a Config,
        d: &'a NewDeployment,
        force: bool,
        runner: Option<Runner>,
    ) -> Answer<'a, (i64, Duration)> {
        Box::pin(async move {
            let lock = &config.lock;
            let env = config.env(&d.env)?;
            let pipeline = haul_server::pipeline_of(env);
            let verdict = self.judge(&d.app, &d.env, &d.release, d.trigger, &pipeline).await?;
            let message = verdict.message(&d.app, &d.env, &d.release);
            if !verdict.registered {
                return Err(RecordError::Unregistered { message });
            }
            let mut d = d.clone();
            if force {
                d.force = Some(Force { overrode: verdict.refusals });
            } else if !verdict.refusals.is_empty() {
                return Err(RecordError::Refused { message });
            }
            let lease = Lease { runner, ttl: lock.lease.0, judge: haul_server::judge() };
            let id = self.start_leased(&d, lock.stale_after.0, Some(lease)).await?;
            Ok((id, lock.lease.0))
        })
    }

    fn renew_lease(&self, id: i64, ttl: Duration) -> Answer<'_> {
        Box::pin(async move { Ok(Ledger::renew_lease(self, id, ttl).await.map(drop)?) })
    }

    fn close_running<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
        reason: &'a str,
        actor: &'a str,
    ) -> Answer<'a, Vec<i64>> {
        Box::pin(async move { Ok(Ledger::close_running(self, app, env, reason, actor).await?) })
    }

    fn record_host<'a>(&'a self, id: i64, h: &'a HostResult, actor: &'a str) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::record_host(self, id, h, actor).await?) })
    }

    fn finish_deployment<'a>(
        &'a self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&'a str>,
        hosts: &'a [HostResult],
        actor: &'a str,
    ) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::finish_deployment(self, id, status, message, hosts, actor).await?) })
    }

    fn report_verification<'a>(&'a self, v: &'a NewVerification) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::report_verification(self, v).await.map(drop)?) })
    }

    fn approve<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleaseId,
        env: &'a str,
        actor: &'a str,
        comment: Option<&'a str>,
    ) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::approve(self, app, release, env, actor, comment).await?) })
    }

    fn quarantine<'a>(&'a self, app: &'a str, release: &'a ReleaseId, reason: &'a str, actor: &'a str) -> Answer<'a> {
        Box::pin(async move { Ok(Ledger::quarantine(self, app, release, reason, actor).await?) })
    }

    fn record_content_sync<'a>(&'a self, s: &'a haul_ledger::NewContentSync) -> Answer<'a, i64> {
        Box::pin(async move { Ok(Ledger::record_content_sync(self, s).await?) })
    }

    /// Judged already, by the local `haul.toml`.
    fn may_sync_content<'a>(&'a self, _s: &'a haul_ledger::NewContentSync) -> Answer<'a> {
        Box::pin(async move { Ok(()) })
    }

    fn deployments<'a>(
        &'a self,
        app: Option<&'a str>,
        env: Option<&'a str>,
        limit: i64,
    ) -> Answer<'a, Vec<Deployment>> {
        Box::pin(async move { Ok(Ledger::deployments(self, app, env, limit).await?) })
    }

    fn verifications(&self, deployment: i64) -> Answer<'_, Vec<Verification>> {
        Box::pin(async move { Ok(Ledger::verifications(self, deployment).await?) })
    }

    fn live<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<Deployment>> {
        Box::pin(async move { Ok(Ledger::live(self, app, env).await?) })
    }

    fn last_verified<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<String>> {
        Box::pin(async move { Ok(Ledger::last_verified(self, app, env).await?.map(ReleaseId::into_string)) })
    }

    fn quarantined<'a>(&'a self, app: &'a str, _env: &'a str) -> Answer<'a, Vec<String>> {
        Box::pin(
            async move { Ok(self.quarantine_list(app).await?.into_iter().map(|q| q.release.into_string()).collect()) },
        )
    }

    fn candidates<'a>(&'a self, config: &'a Config, app: &'a str, env: &'a str) -> Answer<'a, Vec<Candidate>> {
        Box::pin(async move {
            let target = config.env(env)?;
            let req = haul_server::requirements(target);
            Ok(Ledger::candidates(self, app, target.code.get_ref(), env, &req).await?)
        })
    }

    fn verify_audit(&self) -> Answer<'_, AuditReport> {
        Box::pin(async move { Ok(Ledger::verify_audit(self).await?) })
    }

    fn pipeline<'a>(&'a self, config: &'a Config, app: &'a str, days: u32) -> Answer<'a, haul_api::pipeline::Pipeline> {
        Box::pin(async move { Ok(haul_server::pipeline::read(self, config, app, days).await?) })
    }
}

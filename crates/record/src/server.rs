//! A `haul server` as a [`LedgerClient`], over its JSON API: the server
//! judges the gate by its own `haul.toml` and records its token's name
//! (with the person it acts for) as the actor.

use crate::client::{Answer, LedgerClient};
use crate::convert;
use crate::{RecordError, Result};
use haul_api::{records as api, requests, responses};
use haul_config::Config;
use haul_ledger::ReleaseId;
use haul_ledger::{
    AuditReport, Candidate, Deployment, DeploymentStatus, HostResult, NewDeployment, NewRelease, NewVerification,
    Runner, Verification,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// A `haul server` spoken to over its JSON API.
#[derive(Clone)]
pub struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    /// A client of the server at `url` (`http(s)://host:port`), sending
    /// `token` with every request.
    pub fn new(url: &str, token: String) -> Result<Server> {
        let http = haul_deploy::http_client()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| RecordError::Client { url: url.to_string(), source })?;
        Ok(Server { base: url.trim_end_matches('/').to_string(), token, http })
    }

    fn malformed(&self, what: &'static str) -> RecordError {
        RecordError::Malformed { base: self.base.clone(), what }
    }

    fn unexpected(&self, source: serde_json::Error) -> RecordError {
        RecordError::Unexpected { base: self.base.clone(), source }
    }

    fn decode<T: DeserializeOwned>(&self, v: Value) -> Result<T> {
        serde_json::from_value(v).map_err(|e| self.unexpected(e))
    }

    /// One field of an answer, read as `T` (a missing one as `null`), so a
    /// field that does not decode fails only the reader that needs it.
    fn field<T: DeserializeOwned>(&self, mut v: Value, name: &str) -> Result<T> {
        self.decode(v.get_mut(name).map(Value::take).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), query)
            .map_err(|e| RecordError::BadUrl { base: self.base.clone(), message: e.to_string() })?;
        self.call(self.http.get(url)).await
    }

    async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let body = serde_json::to_string(body).expect("request bodies serialize");
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.call(req).await
    }

    /// Sends one request; a refusal comes back as the server's message, a
    /// gate's refusal (a 409 listing `refusals`) as [`RecordError::Refused`].
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let base = || self.base.clone();
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| RecordError::Unreachable { base: base(), source })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|source| RecordError::Read { base: base(), source })?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        let error = &v["error"];
        let message = error["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>())
        });
        let refusals = error["refusals"].as_array().is_some_and(|r| !r.is_empty());
        Err(match status.as_u16() {
            401 | 403 => RecordError::Unauthorized { base: base(), status: status.as_u16(), message },
            503 => RecordError::Unavailable { base: base(), message },
            409 if refusals => RecordError::Refused { message },
            s => RecordError::Status { base: base(), status: s, message },
        })
    }

    /// One field of what the server says of `app` in `env`
    /// ([`responses::AppEnv`]), read as `T`. (Each reader takes only its
    /// field, so one field that does not decode fails only the reader that
    /// needs it.)
    async fn environment<T: DeserializeOwned>(&self, app: &str, env: &str, name: &str) -> Result<T> {
        self.field(self.get(&format!("/api/v1/apps/{app}/envs/{env}"), &[]).await?, name)
    }
}

impl LedgerClient for Server {
    fn register_release<'a>(&'a self, r: &'a NewRelease, _actor: &'a str) -> Answer<'a> {
        Box::pin(async move { self.post("/api/v1/releases", &convert::release(r)).await.map(drop) })
    }

    fn start_deployment<'a>(
        &'a self,
        config: &'a Config,
        d: &'a NewDeployment,
        force: bool,
        runner: Option<Runner>,
    ) -> Answer<'a, (i64, Duration)> {
        Box::pin(async move {
            let body = requests::StartDeployment {
                app: d.app.clone(),
                env: d.env.clone(),
                release: d.release.clone(),
                trigger: d.trigger,
                reason: d.reason.clone(),
                config_digest: d.config_digest.clone(),
                undoes: d.undoes,
                on_behalf_of: Some(d.actor.clone()),
                force: Some(force),
                runner,
            };
            // The server answers an unregistered release as it answers an
            // unknown deployment (404): over a database it is the same.
            let v = self.post("/api/v1/deployments", &body).await.map_err(|e| match e {
                RecordError::Status { status: 404, message, .. } => RecordError::Unregistered { message },
                e => e,
            })?;
            let id = v["id"].as_i64().ok_or_else(|| self.malformed("a deployment id"))?;
            let ttl = v["lease_ms"].as_u64().map_or(config.lock.lease.0, Duration::from_millis);
            Ok((id, ttl))
        })
    }

    fn renew_lease(&self, id: i64, _ttl: Duration) -> Answer<'_> {
        Box::pin(async move {
            self.post(&format!("/api/v1/deployments/{id}/lease"), &serde_json::Map::new()).await.map(drop)
        })
    }

    fn close_running<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
        reason: &'a str,
        actor: &'a str,
    ) -> Answer<'a, Vec<i64>> {
        Box::pin(async move {
            let body = requests::CloseRunning {
                app: app.to_string(),
                env: env.to_string(),
                reason: reason.to_string(),
                on_behalf_of: Some(actor.to_string()),
            };
            let v = self.post("/api/v1/deployments/close", &body).await?;
            Ok(serde_json::from_value::<responses::Closed>(v).map(|c| c.closed).unwrap_or_default())
        })
    }

    fn record_host<'a>(&'a self, id: i64, h: &'a HostResult, _actor: &'a str) -> Answer<'a> {
        Box::pin(
            async move { self.post(&format!("/api/v1/deployments/{id}/hosts"), &convert::host(h)).await.map(drop) },
        )
    }

    fn finish_deployment<'a>(
        &'a self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&'a str>,
        hosts: &'a [HostResult],
        _actor: &'a str,
    ) -> Answer<'a> {
        Box::pin(async move {
            let body = requests::FinishDeployment {
                status,
                message: message.map(str::to_string),
                hosts: Some(hosts.iter().map(convert::host).collect()),
            };
            self.post(&format!("/api/v1/deployments/{id}/finish"), &body).await.map(drop)
        })
    }

    fn report_verification<'a>(&'a self, v: &'a NewVerification) -> Answer<'a> {
        Box::pin(async move {
            let body = requests::ReportVerification { name: v.name.clone(), result: v.result, link: v.link.clone() };
            self.post(&format!("/api/v1/deployments/{}/verifications", v.deployment), &body).await.map(drop)
        })
    }

    fn approve<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleaseId,
        env: &'a str,
        _actor: &'a str,
        comment: Option<&'a str>,
    ) -> Answer<'a> {
        Box::pin(async move {
            let body = requests::Approve {
                app: app.to_string(),
                release: release.clone(),
                env: env.to_string(),
                comment: comment.map(str::to_string),
            };
            self.post("/api/v1/approvals", &body).await.map(drop)
        })
    }

    fn quarantine<'a>(&'a self, app: &'a str, release: &'a ReleaseId, reason: &'a str, _actor: &'a str) -> Answer<'a> {
        Box::pin(async move {
            let body = requests::QuarantineRelease {
                app: app.to_string(),
                release: release.clone(),
                reason: reason.to_string(),
            };
            self.post("/api/v1/quarantines", &body).await.map(drop)
        })
    }

    fn record_content_sync<'a>(&'a self, s: &'a haul_ledger::NewContentSync) -> Answer<'a, i64> {
        Box::pin(async move {
            let body = requests::RecordContentSync {
                app: s.app.clone(),
                from: s.from_env.clone(),
                to: s.to_env.clone(),
                sets: s.sets.clone(),
                reason: s.reason.clone(),
                succeeded: s.outcome == haul_ledger::ContentOutcome::Succeeded,
                bytes: s.bytes,
                digests: s.digests.clone(),
                error: s.error.clone(),
            };
            let v = self.post("/api/v1/content-syncs", &body).await?;
            v["id"].as_i64().ok_or_else(|| self.malformed("a recorded content sync"))
        })
    }

    fn may_sync_content<'a>(&'a self, s: &'a haul_ledger::NewContentSync) -> Answer<'a> {
        Box::pin(async move {
            let body = requests::CheckContentSync {
                app: s.app.clone(),
                from: s.from_env.clone(),
                to: s.to_env.clone(),
                reason: s.reason.clone(),
            };
            self.post("/api/v1/content-syncs/check", &body).await.map(drop)
        })
    }

    fn deployments<'a>(
        &'a self,
        app: Option<&'a str>,
        env: Option<&'a str>,
        limit: i64,
    ) -> Answer<'a, Vec<Deployment>> {
        Box::pin(async move {
            let mut q = vec![("limit", limit.to_string())];
            q.extend(app.map(|a| ("app", a.to_string())));
            q.extend(env.map(|e| ("env", e.to_string())));
            let page: responses::DeploymentPage = self.decode(self.get("/api/v1/deployments", &q).await?)?;
            page.items.into_iter().map(convert::to_deployment).collect::<Result<_, _>>().map_err(|e| self.unexpected(e))
        })
    }

    fn verifications(&self, deployment: i64) -> Answer<'_, Vec<Verification>> {
        Box::pin(async move {
            // The verifications of a `responses::DeploymentDetail`.
            let vs: Vec<api::Verification> =
                self.field(self.get(&format!("/api/v1/deployments/{deployment}"), &[]).await?, "verifications")?;
            vs.into_iter().map(convert::to_verification).collect::<Result<_, _>>().map_err(|e| self.unexpected(e))
        })
    }

    fn live<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<Deployment>> {
        Box::pin(async move {
            let live: Option<api::Deployment> = self.environment(app, env, "live").await?;
            live.map(convert::to_deployment).transpose().map_err(|e| self.unexpected(e))
        })
    }

    fn last_verified<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Option<String>> {
        Box::pin(async move { self.environment(app, env, "last_verified").await })
    }

    fn quarantined<'a>(&'a self, app: &'a str, env: &'a str) -> Answer<'a, Vec<String>> {
        Box::pin(async move { self.environment(app, env, "quarantined").await })
    }

    fn candidates<'a>(&'a self, _config: &'a Config, app: &'a str, env: &'a str) -> Answer<'a, Vec<Candidate>> {
        Box::pin(async move {
            // The candidates of a `responses::Candidates`.
            let cs: Vec<api::Candidate> =
                self.field(self.get(&format!("/api/v1/promotions/{app}/{env}"), &[]).await?, "candidates")?;
            Ok(cs.into_iter().map(Into::into).collect())
        })
    }

    fn pipeline<'a>(
        &'a self,
        _config: &'a Config,
        app: &'a str,
        days: u32,
    ) -> Answer<'a, haul_api::pipeline::Pipeline> {
        Box::pin(async move {
            let v = self.get(&format!("/api/v1/pipeline/{app}"), &[("days", days.to_string())]).await?;
            if v.get("environments").is_none_or(|e| !e.is_array()) {
                return Err(self.malformed("a pipeline"));
            }
            self.decode(v)
        })
    }

    fn verify_audit(&self) -> Answer<'_, AuditReport> {
        Box::pin(async move {
            let v = self.get("/api/v1/audit/verify", &[]).await?;
            if v.get("entries").is_none_or(Value::is_null) {
                return Err(self.malformed("an audit report"));
            }
            Ok(self.decode::<api::AuditReport>(v)?.into())
        })
    }
}

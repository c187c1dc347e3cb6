//! Where the CLI records and reads the ledger: the database itself (SQLite
//! by default, or PostgreSQL), or a `haul server` when `[ledger] url` is an
//! `http(s)://` address. Commands call one set of methods and never know
//! which; through a server, the server judges promotions against its own
//! `haul.toml` and records its token's name (with the person it acts for)
//! as the actor.

use crate::error::{Failure, Result};
use haul_ledger::{
    AuditReport, Candidate, Deployment, DeploymentStatus, Force, HostResult, Lease, Ledger, NewDeployment, NewRelease,
    NewVerification, ReleaseId, Runner, Verification,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Clone)]
pub enum Store {
    Local(Ledger),
    Remote(Remote),
}

/// A `haul server` spoken to over its JSON API.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// How a refusal says it can be overridden.
const BREAK_GLASS: &str =
    "(to go ahead anyway, break glass with --force --reason \"…\"; it is recorded as forced in the ledger)";

fn failed(e: haul_ledger::LedgerError) -> Failure {
    match e {
        haul_ledger::LedgerError::Invalid { .. } => Failure::Usage(e.to_string()),
        e => Failure::Run(e.to_string()),
    }
}

/// `id` as a release id, or the usage error that names it.
fn release_id(id: &str) -> Result<ReleaseId> {
    ReleaseId::parse(id).map_err(|e| Failure::Usage(e.to_string()))
}

impl Store {
    pub async fn open(config: &haul_config::Config) -> Result<Store> {
        let url = config.ledger_url();
        if url.starts_with("http://") || url.starts_with("https://") {
            let var = config.ledger.token_env.clone().unwrap_or_else(|| "HAUL_TOKEN".into());
            let token = std::env::var(&var).map_err(|_| {
                Failure::Usage(format!(
                    "{}: [ledger] url is the haul server {url}; set {var} to a token it accepts",
                    config.path.display()
                ))
            })?;
            let http = haul_deploy::http_client()
                .connect_timeout(std::time::Duration::from_secs(10))
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(|e| Failure::Run(format!("ledger server {url}: {e}")))?;
            return Ok(Store::Remote(Remote { base: url.trim_end_matches('/').to_string(), token, http }));
        }
        Ledger::open(&url).await.map(Store::Local).map_err(failed)
    }

    pub async fn register_release(&self, r: &NewRelease, actor: &str) -> Result<()> {
        match self {
            Store::Local(l) => l.register_release(r, actor).await.map(drop).map_err(failed),
            Store::Remote(s) => s.post("/api/v1/releases", json!(r)).await.map(drop),
        }
    }

    /// Starts a deployment once the gate lets its release into the
    /// environment: judged here, by `config`, over a database; by the
    /// server, by its own `haul.toml`, through one. `force` is the
    /// break-glass: the deployment goes ahead and is recorded as forced,
    /// with what the gate refused (through a server, the token needs `admin`).
    /// It is run by `runner` (this process), holding a lease that
    /// [`Store::renew_lease`] renews: `lock.lease` here, or the server's
    /// own, returned beside the id.
    pub async fn start_deployment(
        &self,
        config: &haul_config::Config,
        d: &NewDeployment,
        force: bool,
        runner: Option<Runner>,
    ) -> Result<(i64, std::time::Duration)> {
        let lock = &config.lock;
        match self {
            Store::Local(l) => {
                let env = config.env(&d.env).map_err(|e| Failure::Usage(e.to_string()))?;
                let pipeline = haul_server::pipeline_of(env);
                let verdict = l.judge(&d.app, &d.env, &d.release, d.trigger, &pipeline).await.map_err(failed)?;
                let message = verdict.message(&d.app, &d.env, &d.release);
                if !verdict.registered {
                    return Err(Failure::Run(message));
                }
                let mut d = d.clone();
                if force {
                    d.force = Some(Force { overrode: verdict.refusals });
                } else if !verdict.refusals.is_empty() {
                    return Err(Failure::Run(format!("{message}\n{BREAK_GLASS}")));
                }
                let lease = Lease { runner, ttl: lock.lease.0, judge: haul_server::judge() };
                let id = l.start_leased(&d, lock.stale_after.0, Some(lease)).await.map_err(failed)?;
                Ok((id, lock.lease.0))
            }
            Store::Remote(s) => {
                let body = json!({
                    "app": d.app, "env": d.env, "release": d.release, "trigger": d.trigger, "reason": d.reason,
                    "config_digest": d.config_digest, "undoes": d.undoes, "on_behalf_of": d.actor, "force": force,
                    "runner": runner,
                });
                let v = s.post("/api/v1/deployments", body).await.map_err(|e| match e {
                    Failure::Run(m) if m.contains(" may not enter ") => Failure::Run(format!("{m}\n{BREAK_GLASS}")),
                    other => other,
                })?;
                let id = v["id"].as_i64().ok_or_else(|| s.malformed("a deployment id"))?;
                let ttl = v["lease_ms"].as_u64().map_or(lock.lease.0, std::time::Duration::from_millis);
                Ok((id, ttl))
            }
        }
    }

    /// Renews the lease of running deployment `id` (for `ttl` from now; a
    /// server uses its own `lock.lease`).
    pub async fn renew_lease(&self, id: i64, ttl: std::time::Duration) -> Result {
        match self {
            Store::Local(l) => l.renew_lease(id, ttl).await.map(drop).map_err(failed),
            Store::Remote(s) => s.post(&format!("/api/v1/deployments/{id}/lease"), json!({})).await.map(drop),
        }
    }

    /// Closes, as failed with `reason`, what is still recorded as running of
    /// `app` in `env`; returns the deployments closed.
    pub async fn close_running(&self, app: &str, env: &str, reason: &str, actor: &str) -> Result<Vec<i64>> {
        match self {
            Store::Local(l) => l.close_running(app, env, reason, actor).await.map_err(failed),
            Store::Remote(s) => {
                let body = json!({ "app": app, "env": env, "reason": reason, "on_behalf_of": actor });
                let v = s.post("/api/v1/deployments/close", body).await?;
                Ok(v["closed"].as_array().map(|a| a.iter().filter_map(|i| i.as_i64()).collect()).unwrap_or_default())
            }
        }
    }

    /// Records one host's progress while the deployment runs.
    pub async fn record_host(&self, id: i64, h: &HostResult, actor: &str) -> Result {
        match self {
            Store::Local(l) => l.record_host(id, h, actor).await.map_err(failed),
            Store::Remote(s) => s.post(&format!("/api/v1/deployments/{id}/hosts"), json!(h)).await.map(drop),
        }
    }

    pub async fn finish_deployment(
        &self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&str>,
        hosts: &[HostResult],
        actor: &str,
    ) -> Result {
        match self {
            Store::Local(l) => l.finish_deployment(id, status, message, hosts, actor).await.map_err(failed),
            Store::Remote(s) => {
                let body = json!({ "status": status, "message": message, "hosts": hosts });
                s.post(&format!("/api/v1/deployments/{id}/finish"), body).await.map(drop)
            }
        }
    }

    pub async fn report_verification(&self, v: &NewVerification) -> Result<()> {
        match self {
            Store::Local(l) => l.report_verification(v).await.map(drop).map_err(failed),
            Store::Remote(s) => {
                let body = json!({ "name": v.name, "result": v.result, "link": v.link });
                s.post(&format!("/api/v1/deployments/{}/verifications", v.deployment), body).await.map(drop)
            }
        }
    }

    pub async fn approve(&self, app: &str, release: &str, env: &str, actor: &str, comment: Option<&str>) -> Result {
        match self {
            Store::Local(l) => l.approve(app, &release_id(release)?, env, actor, comment).await.map_err(failed),
            Store::Remote(s) => {
                let body = json!({ "app": app, "release": release, "env": env, "comment": comment });
                s.post("/api/v1/approvals", body).await.map(drop)
            }
        }
    }

    pub async fn quarantine(&self, app: &str, release: &str, reason: &str, actor: &str) -> Result {
        match self {
            Store::Local(l) => l.quarantine(app, &release_id(release)?, reason, actor).await.map_err(failed),
            Store::Remote(s) => {
                let body = json!({ "app": app, "release": release, "reason": reason });
                s.post("/api/v1/quarantines", body).await.map(drop)
            }
        }
    }

    pub async fn deployments(&self, app: Option<&str>, env: Option<&str>, limit: i64) -> Result<Vec<Deployment>> {
        match self {
            Store::Local(l) => l.deployments(app, env, limit).await.map_err(failed),
            Store::Remote(s) => {
                let mut q = vec![("limit", limit.to_string())];
                q.extend(app.map(|a| ("app", a.to_string())));
                q.extend(env.map(|e| ("env", e.to_string())));
                let v = s.get("/api/v1/deployments", &q).await?;
                s.decode(v["items"].clone())
            }
        }
    }

    pub async fn verifications(&self, deployment: i64) -> Result<Vec<Verification>> {
        match self {
            Store::Local(l) => l.verifications(deployment).await.map_err(failed),
            Store::Remote(s) => {
                let v = s.get(&format!("/api/v1/deployments/{deployment}"), &[]).await?;
                s.decode(v["verifications"].clone())
            }
        }
    }

    /// The deployment the ledger says `env` runs.
    pub async fn live(&self, app: &str, env: &str) -> Result<Option<Deployment>> {
        match self {
            Store::Local(l) => l.live(app, env).await.map_err(failed),
            Store::Remote(s) => s.decode(s.get(&format!("/api/v1/apps/{app}/envs/{env}"), &[]).await?["live"].clone()),
        }
    }

    /// Where a failed deploy of `app` to `env` goes back to.
    pub async fn last_verified(&self, app: &str, env: &str) -> Result<Option<String>> {
        match self {
            Store::Local(l) => l.last_verified(app, env).await.map(|r| r.map(ReleaseId::into_string)).map_err(failed),
            Store::Remote(s) => {
                s.decode(s.get(&format!("/api/v1/apps/{app}/envs/{env}"), &[]).await?["last_verified"].clone())
            }
        }
    }

    /// The app's quarantined releases, which no run goes to (read with
    /// what `env` runs, so a `deploy` token may read it).
    pub async fn quarantined(&self, app: &str, env: &str) -> Result<Vec<String>> {
        match self {
            Store::Local(l) => {
                Ok(l.quarantine_list(app).await.map_err(failed)?.into_iter().map(|q| q.release.into_string()).collect())
            }
            Store::Remote(s) => {
                s.decode(s.get(&format!("/api/v1/apps/{app}/envs/{env}"), &[]).await?["quarantined"].clone())
            }
        }
    }

    /// Releases that could be promoted into `env` and what each lacks,
    /// judged by the local `haul.toml`, or by the server's.
    pub async fn candidates(&self, config: &haul_config::Config, app: &str, env: &str) -> Result<Vec<Candidate>> {
        match self {
            Store::Local(l) => {
                let target = config.env(env).map_err(|e| Failure::Usage(e.to_string()))?;
                let req = haul_server::requirements(target);
                l.candidates(app, target.code.get_ref(), env, &req).await.map_err(failed)
            }
            Store::Remote(s) => {
                s.decode(s.get(&format!("/api/v1/promotions/{app}/{env}"), &[]).await?["candidates"].clone())
            }
        }
    }

    pub async fn verify_audit(&self) -> Result<AuditReport> {
        match self {
            Store::Local(l) => l.verify_audit().await.map_err(failed),
            Store::Remote(s) => {
                let v = s.get("/api/v1/audit/verify", &[]).await?;
                let entries = v["entries"].as_u64().ok_or_else(|| s.malformed("an audit report"))? as usize;
                let broken = s.decode(v["broken"].clone())?;
                Ok(AuditReport { entries, broken })
            }
        }
    }
}

impl Remote {
    fn malformed(&self, what: &str) -> Failure {
        Failure::Run(format!("ledger server {}: the answer is not {what}", self.base))
    }

    fn decode<T: DeserializeOwned>(&self, v: Value) -> Result<T> {
        serde_json::from_value(v)
            .map_err(|e| Failure::Run(format!("ledger server {}: unexpected answer: {e}", self.base)))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), query)
            .map_err(|e| Failure::Usage(format!("ledger server {}: {e}", self.base)))?;
        self.call(self.http.get(url)).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.call(req).await
    }

    /// Sends one request; a refusal comes back as the server's message.
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Failure::Run(format!("ledger server {}: {}", self.base, haul_deploy::error_chain(&e))))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| Failure::Run(format!("ledger server {}: {e}", self.base)))?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        let msg = v["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>())
        });
        Err(match status.as_u16() {
            401 | 403 => Failure::Usage(format!("ledger server {}: {msg}", self.base)),
            503 => Failure::Run(format!("ledger server {} is unavailable (HTTP 503): {msg}", self.base)),
            _ => Failure::Run(msg),
        })
    }
}

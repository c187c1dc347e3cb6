//! The write side of the API: what a `haul` CLI (or any CI system) records
//! through the server — releases, deployments and their hosts as they run,
//! and promotions, which the server judges against the requirements of its
//! own `haul.toml` so that a client cannot promote what does not qualify.

use crate::api::{Res, authorize, authorize_any, created, ok, page};
use crate::edge::Body;
use crate::{ApiError, State};
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as S};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use haul_ledger::{
    Candidate, DeploymentStatus, Force, HostResult, NewDeployment, NewRelease, Pipeline, ReleaseId, Requirements,
    Trigger,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;

pub fn routes() -> Router<State> {
    Router::new()
        .route("/api/v1/releases", post(register_release).get(list_releases))
        .route("/api/v1/deployments", post(start_deployment))
        .route("/api/v1/deployments/{id}/hosts", post(record_host))
        .route("/api/v1/deployments/{id}/finish", post(finish_deployment))
        .route("/api/v1/promotions", post(promote))
        .route("/api/v1/promotions/{app}/{env}", get(candidates))
        .route("/api/v1/apps/{app}/envs/{env}", get(app_env))
        .route("/api/v1/approvals", get(list_approvals))
        .route("/api/v1/quarantines", get(list_quarantines))
}

/// What `env` requires of a release promoted into it, from `haul.toml`.
pub fn requirements(env: &haul_config::Environment) -> Requirements {
    let req = env.requires.as_ref().map(|r| r.get_ref().clone()).unwrap_or_default();
    Requirements { verifications: req.verifications, soak: req.soak.map(|d| d.0), approvals: req.approvals }
}

/// Where `env`'s code comes from and what it requires: what the gate
/// judges a release entering it against.
pub fn pipeline_of(env: &haul_config::Environment) -> Pipeline {
    let up = env.code.get_ref();
    Pipeline { upstream: (up != "build").then(|| up.clone()), requires: requirements(env) }
}

/// The scopes that may read what a run needs from the ledger (what an
/// environment runs, its quarantines, promotion candidates): `read`, and
/// `deploy`, so that a token that deploys needs nothing more.
const RUN_READS: &[&str] = &["read", "deploy"];

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, msg)
}

/// The actor recorded for a write: the token's name, and the person it
/// acts for when the client says so (`alice via ci`).
pub(crate) fn actor(token: String, on_behalf_of: Option<&str>) -> Result<String, ApiError> {
    match on_behalf_of.map(str::trim).filter(|s| !s.is_empty()) {
        Some(who) if who.chars().count() > MAX_ON_BEHALF_OF => Err(unprocessable(format!(
            "`on_behalf_of` is {} characters long; at most {MAX_ON_BEHALF_OF} are kept",
            who.chars().count()
        ))
        .with_field("on_behalf_of")),
        Some(who) if who != token => Ok(format!("{who} via {token}")),
        _ => Ok(token),
    }
}

/// The longest `on_behalf_of`: a person's name, not a text.
pub(crate) const MAX_ON_BEHALF_OF: usize = 256;

/// A release id from a request: the release crate's one check, so that no
/// id the CLI would refuse reaches the ledger or a host through the API.
fn release_id(id: &str) -> Result<ReleaseId, ApiError> {
    ReleaseId::parse(id).map_err(|e| unprocessable(e.to_string()))
}

pub(crate) fn known_app_env(state: &State, app: &str, env: Option<&str>) -> Result<(), ApiError> {
    // Named without the config file's path: where the server keeps its
    // files is not the client's to know.
    let unknown = |what: &str, name: &str, known: Vec<&str>| {
        unprocessable(format!("no {what} `{name}` in the server's haul.toml (known: {})", known.join(", ")))
    };
    let c = &state.config;
    if state.config.app(app).is_err() {
        return Err(unknown("app", app, c.apps.keys().map(|k| k.get_ref().as_str()).collect()));
    }
    if let Some(env) = env
        && state.config.env(env).is_err()
    {
        return Err(unknown("environment", env, c.environments.keys().map(|k| k.get_ref().as_str()).collect()));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    app: String,
    id: String,
    digest: String,
    revision: Option<String>,
    built_by: String,
    created: String,
    files: i64,
    bytes: i64,
}

async fn register_release(S(state): S<State>, headers: HeaderMap, body: Result<Body<ReleaseBody>, ApiError>) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let Body(b) = body?;
    known_app_env(&state, &b.app, None)?;
    let id = release_id(&b.id)?;
    let built = b.created.parse().map_err(|e| unprocessable(format!("`created` is not an RFC 3339 time: {e}")))?;
    if b.digest.is_empty() {
        return Err(unprocessable("`digest` must not be empty"));
    }
    let r = NewRelease {
        app: b.app,
        id,
        digest: b.digest,
        revision: b.revision,
        built_by: b.built_by,
        created: built,
        files: b.files,
        bytes: b.bytes,
    };
    let new = state.ledger.register_release(&r, &token).await?;
    state.metrics.writes.fetch_add(u64::from(new), Ordering::Relaxed);
    let v = json!({ "app": r.app, "id": r.id, "created": new });
    if new { created(v) } else { ok(v) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleasePage {
    app: String,
    before: Option<String>,
    limit: Option<i64>,
}

async fn list_releases(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<ReleasePage>, QueryRejection>,
) -> Res {
    authorize(&state, &headers, "read")?;
    let Query(q) = q?;
    let limit = crate::api::limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items = state.ledger.releases(&q.app, q.before.as_deref(), limit).await?;
            Ok(page(items, limit, |r| r.id.clone()))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    app: String,
    env: String,
    release: String,
    trigger: Trigger,
    reason: Option<String>,
    config_digest: String,
    undoes: Option<i64>,
    on_behalf_of: Option<String>,
    /// Break glass: go ahead past the gate (needs `admin` and a `reason`).
    #[serde(default)]
    force: Option<bool>,
    /// The process that runs the deployment, so that its death is known.
    runner: Option<haul_ledger::Runner>,
}

async fn start_deployment(S(state): S<State>, headers: HeaderMap, body: Result<Body<StartBody>, ApiError>) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let Body(b) = body?;
    known_app_env(&state, &b.app, Some(&b.env))?;
    let release = release_id(&b.release)?;
    let force =
        gate(&state, &headers, &b.app, &b.env, &b.release, b.trigger, b.force == Some(true), b.reason.as_deref())
            .await?;
    let d = NewDeployment {
        app: b.app,
        env: b.env,
        release,
        trigger: b.trigger,
        actor: actor(token, b.on_behalf_of.as_deref())?,
        reason: b.reason,
        config_digest: b.config_digest,
        undoes: b.undoes,
        force,
    };
    let lease = crate::lease::lease(&state, b.runner);
    let id = state.ledger.start_leased(&d, state.config.lock.stale_after.0, Some(lease)).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    let forced = state.ledger.deployment(id).await?.forced;
    let lease_ms = state.config.lock.lease.0.as_millis() as u64;
    created(json!({ "id": id, "release": d.release, "actor": d.actor, "forced": forced, "lease_ms": lease_ms }))
}

/// The gate, for every deployment started through the API: an unknown
/// release is a 422, one the gate refuses a 409 saying why, unless the
/// caller breaks glass (`force`, which needs the `admin` scope and a
/// `reason`); then what it overrides is recorded with the deployment.
#[allow(clippy::too_many_arguments)]
async fn gate(
    state: &State,
    headers: &HeaderMap,
    app: &str,
    env: &str,
    release: &str,
    trigger: Trigger,
    force: bool,
    reason: Option<&str>,
) -> Result<Option<Force>, ApiError> {
    if force {
        authorize(state, headers, "admin")?;
        if reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(unprocessable("`force` needs a `reason` saying why the gate is overridden"));
        }
    }
    let e = state.config.env(env).map_err(|e| unprocessable(e.to_string()))?;
    let verdict = state.ledger.judge(app, env, release, trigger, &pipeline_of(e)).await?;
    if !verdict.registered {
        // What the request names does not exist, as an unknown deployment.
        return Err(ApiError::new(StatusCode::NOT_FOUND, verdict.message(app, env, release)));
    }
    if force {
        return Ok(Some(Force { overrode: verdict.refusals }));
    }
    if !verdict.refusals.is_empty() {
        let detail = json!({ "refusals": verdict.refusals, "candidates": verdict.candidates });
        return Err(ApiError::new(StatusCode::CONFLICT, verdict.message(app, env, release)).with_detail(detail));
    }
    Ok(None)
}

async fn record_host(
    S(state): S<State>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<HostResult>, ApiError>,
) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let Path(id) = id?;
    let Body(h) = body?;
    state.ledger.record_host(id, &h, &token).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    ok(json!({ "deployment": id, "host": h.host }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishBody {
    status: DeploymentStatus,
    message: Option<String>,
    hosts: Option<Vec<HostResult>>,
}

async fn finish_deployment(
    S(state): S<State>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<FinishBody>, ApiError>,
) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let Path(id) = id?;
    let Body(b) = body?;
    if matches!(b.status, DeploymentStatus::Running | DeploymentStatus::Undone) {
        return Err(unprocessable("`status` must be succeeded, failed or switched_back"));
    }
    let hosts = b.hosts.unwrap_or_default();
    state.ledger.finish_deployment(id, b.status, b.message.as_deref(), &hosts, &token).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    ok(json!({ "id": id, "status": b.status }))
}

/// What `env` takes releases from and requires of them, or a 422.
fn pipeline(state: &State, env: &str) -> Result<(String, Requirements), ApiError> {
    let e = state.config.env(env).map_err(|e| unprocessable(e.to_string()))?;
    let up = e.code.get_ref().clone();
    if up == "build" {
        return Err(unprocessable(format!("environment `{env}` builds its own code; nothing is promoted into it")));
    }
    Ok((up, requirements(e)))
}

/// The candidate to promote into `env`: `release` if given, else the
/// newest that qualifies; a 409 listing every unmet requirement otherwise.
async fn choose(state: &State, app: &str, env: &str, release: Option<&str>) -> Result<Candidate, ApiError> {
    let (up, req) = pipeline(state, env)?;
    let all = state.ledger.candidates(app, &up, env, &req).await?;
    haul_ledger::choose(all, release, app, &up, env).map_err(|(msg, left)| {
        let e = ApiError::new(StatusCode::CONFLICT, msg);
        if left.is_empty() { e } else { e.with_detail(json!({ "candidates": left })) }
    })
}

async fn candidates(S(state): S<State>, headers: HeaderMap, p: Result<Path<(String, String)>, PathRejection>) -> Res {
    authorize_any(&state, &headers, RUN_READS)?;
    let Path((app, env)) = p?;
    known_app_env(&state, &app, Some(&env))?;
    let (up, req) = pipeline(&state, &env)?;
    let all = state.ledger.candidates(&app, &up, &env, &req).await?;
    ok(json!({ "app": app, "env": env, "upstream": up, "candidates": all }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    app: String,
    env: String,
    release: Option<String>,
    reason: Option<String>,
    on_behalf_of: Option<String>,
}

/// Picks what to promote and starts its deployment record (trigger
/// `promote`); the caller runs it and reports hosts and the outcome.
async fn promote(S(state): S<State>, headers: HeaderMap, body: Result<Body<PromoteBody>, ApiError>) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let Body(b) = body?;
    known_app_env(&state, &b.app, Some(&b.env))?;
    let chosen = choose(&state, &b.app, &b.env, b.release.as_deref()).await?;
    let force = gate(&state, &headers, &b.app, &b.env, &chosen.release, Trigger::Promote, false, None).await?;
    let d = NewDeployment {
        app: b.app,
        env: b.env,
        release: chosen.release.clone(),
        trigger: Trigger::Promote,
        actor: actor(token, b.on_behalf_of.as_deref())?,
        reason: b.reason,
        config_digest: state.config.digest.clone(),
        undoes: None,
        force,
    };
    let lease = crate::lease::lease(&state, None);
    let id = state.ledger.start_leased(&d, state.config.lock.stale_after.0, Some(lease)).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(json!({ "id": id, "release": chosen.release, "upstream_deployment": chosen.deployment }))
}

/// What an environment runs according to the ledger, where a failed
/// deploy would go back to, and the app's quarantined releases (which no
/// run goes to): everything a run reads.
async fn app_env(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    authorize_any(&state, &headers, RUN_READS)?;
    let Path((app, env)) = p?;
    known_app_env(&state, &app, Some(&env))?;
    state
        .cache
        .get(&state.ledger, uri.path().to_string(), async {
            let live = state.ledger.live(&app, &env).await?;
            let last_verified = state.ledger.last_verified(&app, &env).await?;
            let quarantined: Vec<ReleaseId> =
                state.ledger.quarantine_list(&app).await?.into_iter().map(|q| q.release).collect();
            Ok(json!({ "app": app, "env": env, "live": live, "last_verified": last_verified, "quarantined": quarantined }))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalPage {
    app: String,
    release: Option<String>,
    env: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list_approvals(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<ApprovalPage>, QueryRejection>,
) -> Res {
    authorize(&state, &headers, "read")?;
    let Query(q) = q?;
    let limit = crate::api::limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items =
                state.ledger.approval_list(&q.app, q.release.as_deref(), q.env.as_deref(), q.before, limit).await?;
            Ok(page(items, limit, |a| a.id))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppQuery {
    app: String,
}

async fn list_quarantines(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<AppQuery>, QueryRejection>,
) -> Res {
    authorize(&state, &headers, "read")?;
    let Query(q) = q?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            Ok(json!({ "items": state.ledger.quarantine_list(&q.app).await? }))
        })
        .await
}

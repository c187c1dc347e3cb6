//! The write side of the API: what a `haul` CLI (or any CI system) records
//! through the server — releases, deployments and their hosts as they run,
//! and promotions, which the server judges against the requirements of its
//! own `haul.toml` so that a client cannot promote what does not qualify.

use crate::api::{Res, created, next, ok};
use crate::auth::{Admin, Auth, Deploy, Read, ReadOrDeploy};
use crate::edge::Body;
use crate::openapi::Errors;
use crate::{ApiError, State, wire};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as S};
use axum::http::{StatusCode, Uri};
use haul_api::requests::{
    AppQuery, ApprovalQuery, FinishDeployment, Promote, RegisterRelease, ReleaseQuery, StartDeployment,
};
use haul_api::responses::{
    AppEnv, ApprovalPage, Candidates, DeploymentFinished, DeploymentStarted, HostRecorded, PromotionStarted,
    QuarantineList, ReleasePage, ReleaseRegistered,
};
use haul_api::{DeploymentStatus, Trigger, records::HostResult};
use haul_ledger::{Candidate, Force, NewDeployment, NewRelease, Pipeline, Requirements};
use serde_json::json;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(register_release, list_releases))
        .routes(routes!(crate::api::list_deployments, start_deployment))
        .routes(routes!(record_host))
        .routes(routes!(finish_deployment))
        .routes(routes!(promote))
        .routes(routes!(candidates))
        .routes(routes!(app_env))
        .routes(routes!(list_approvals))
        .routes(routes!(list_quarantines))
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

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, msg)
}

/// The actor recorded for a write: the token's name, and the person it
/// acts for when the client says so (`alice via ci`).
pub(crate) fn actor(token: &str, on_behalf_of: Option<&str>) -> Result<String, ApiError> {
    match on_behalf_of.map(str::trim).filter(|s| !s.is_empty()) {
        Some(who) if who.chars().count() > MAX_ON_BEHALF_OF => Err(unprocessable(format!(
            "`on_behalf_of` is {} characters long; at most {MAX_ON_BEHALF_OF} are kept",
            who.chars().count()
        ))
        .with_field("on_behalf_of")),
        Some(who) if who != token => Ok(format!("{who} via {token}")),
        _ => Ok(token.to_string()),
    }
}

/// The longest `on_behalf_of`: a person's name, not a text.
pub(crate) use haul_api::requests::MAX_ON_BEHALF_OF;

pub(crate) fn known_app_env(state: &State, app: &str, env: Option<&str>) -> Result<(), ApiError> {
    app_env_in_config(state, app, env, StatusCode::UNPROCESSABLE_ENTITY)
}

/// [`known_app_env`] for a read: what the config does not name is not
/// found (404), not a malformed request.
pub(crate) fn found_app_env(state: &State, app: &str, env: Option<&str>) -> Result<(), ApiError> {
    app_env_in_config(state, app, env, StatusCode::NOT_FOUND)
}

fn app_env_in_config(state: &State, app: &str, env: Option<&str>, status: StatusCode) -> Result<(), ApiError> {
    // Named without the config file's path: where the server keeps its
    // files is not the client's to know.
    let unknown = |what: &str, name: &str, known: Vec<&str>| {
        ApiError::new(status, format!("no {what} `{name}` in the server's haul.toml (known: {})", known.join(", ")))
    };
    let c = &state.config;
    if state.config.app(app).is_err() {
        return Err(unknown("app", app, c.apps.keys().map(|k| k.get_ref().as_str()).collect()));
    }
    if let Some(env) = env
        && let Some(members) = c.group(env)
    {
        // One request is one deployment: a group's members are each their
        // own, started in order by the client (`haul promote` does).
        return Err(ApiError::new(
            status,
            format!("`{env}` is a group of environments ({}): ask for each member in order", members.join(", ")),
        ));
    }
    if let Some(env) = env
        && state.config.env(env).is_err()
    {
        return Err(unknown("environment", env, c.environments.keys().map(|k| k.get_ref().as_str()).collect()));
    }
    Ok(())
}

/// Register a built release (201 when new, 200 when already recorded with
/// the same digest).
#[utoipa::path(post, path = "/api/v1/releases", request_body = RegisterRelease,
    responses((status = 201, body = ReleaseRegistered), (status = 200, description = "already recorded", body = ReleaseRegistered), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn register_release(
    auth: Auth<Deploy>,
    S(state): S<State>,
    body: Result<Body<RegisterRelease>, ApiError>,
) -> Res {
    let Body(b) = body?;
    known_app_env(&state, &b.app, None)?;
    if b.digest.is_empty() {
        return Err(unprocessable("`digest` must not be empty"));
    }
    let r = NewRelease {
        app: b.app,
        id: b.id.clone(),
        digest: b.digest,
        revision: b.revision,
        built_by: b.built_by,
        created: b.created.parse().map_err(|e| unprocessable(format!("`created` must be an RFC 3339 time ({e})")))?,
        files: b.files,
        bytes: b.bytes,
    };
    let new = state.ledger.register_release(&r, auth.name()).await?;
    state.metrics.writes.fetch_add(u64::from(new), Ordering::Relaxed);
    let v = ReleaseRegistered { app: r.app, id: b.id, created: new };
    if new { created(v) } else { ok(v) }
}

/// An app's releases, newest first; `next_before` pages on.
#[utoipa::path(get, path = "/api/v1/releases", params(ReleaseQuery),
    responses((status = 200, body = ReleasePage), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn list_releases(
    _: Auth<Read>,
    S(state): S<State>,
    uri: Uri,
    q: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Res {
    let Query(q) = q?;
    let limit = crate::api::limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items = state.ledger.releases(&q.app, q.before.as_deref(), limit).await?;
            let items = items.into_iter().map(wire::release).collect::<Result<Vec<_>, _>>()?;
            let next_before = next(&items, limit, |r| r.id.clone());
            Ok(ReleasePage { items, next_before })
        })
        .await
}

/// Start a deployment (status running) once the gate lets its release in,
/// whatever the trigger: an unregistered release is 404; a quarantined one,
/// one that did not come from the environment's upstream or does not meet
/// its requirements, or any deployment while another runs, is 409
/// (`refusals`, `candidates`); `force` (with the `admin` scope and a
/// `reason`) breaks glass and is recorded as forced.
#[utoipa::path(post, path = "/api/v1/deployments", request_body = StartDeployment,
    responses((status = 201, body = DeploymentStarted), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn start_deployment(
    auth: Auth<Deploy>,
    S(state): S<State>,
    body: Result<Body<StartDeployment>, ApiError>,
) -> Res {
    let Body(b) = body?;
    known_app_env(&state, &b.app, Some(&b.env))?;
    let trigger = b.trigger;
    let force =
        gate(&state, &auth, &b.app, &b.env, &b.release, trigger, b.force == Some(true), b.reason.as_deref()).await?;
    let d = NewDeployment {
        app: b.app,
        env: b.env,
        release: b.release.clone(),
        trigger,
        actor: actor(auth.name(), b.on_behalf_of.as_deref())?,
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
    created(DeploymentStarted { id, release: b.release, actor: d.actor, forced, lease_ms })
}

/// The gate, for every deployment started through the API: an unknown
/// release is a 422, one the gate refuses a 409 saying why, unless the
/// caller breaks glass (`force`, which needs the `admin` scope and a
/// `reason`); then what it overrides is recorded with the deployment.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn gate(
    state: &State,
    auth: &Auth<Deploy>,
    app: &str,
    env: &str,
    release: &str,
    trigger: haul_ledger::Trigger,
    force: bool,
    reason: Option<&str>,
) -> Result<Option<Force>, ApiError> {
    if force {
        auth.also::<Admin>()?;
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

/// Record or update one host's part while the deployment runs.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/hosts", params(("id" = i64, Path)), request_body = HostResult,
    responses((status = 200, body = HostRecorded), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn record_host(
    auth: Auth<Deploy>,
    S(state): S<State>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<HostResult>, ApiError>,
) -> Res {
    let Path(id) = id?;
    let Body(h) = body?;
    let host = h.host.clone();
    state.ledger.record_host(id, &wire::to_host(h), auth.name()).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    ok(HostRecorded { deployment: id, host })
}

/// End a running deployment with its outcome and every host's result.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/finish", params(("id" = i64, Path)), request_body = FinishDeployment,
    responses((status = 200, body = DeploymentFinished), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn finish_deployment(
    auth: Auth<Deploy>,
    S(state): S<State>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<FinishDeployment>, ApiError>,
) -> Res {
    let Path(id) = id?;
    let Body(b) = body?;
    if matches!(b.status, DeploymentStatus::Running | DeploymentStatus::Undone) {
        return Err(unprocessable("`status` must be succeeded, failed or switched_back"));
    }
    let hosts: Vec<_> = b.hosts.unwrap_or_default().into_iter().map(wire::to_host).collect();
    state.ledger.finish_deployment(id, b.status, b.message.as_deref(), &hosts, auth.name()).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    ok(DeploymentFinished { id, status: b.status })
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
pub(crate) async fn choose(state: &State, app: &str, env: &str, release: Option<&str>) -> Result<Candidate, ApiError> {
    let (up, req) = pipeline(state, env)?;
    let all = state.ledger.candidates(app, &up, env, &req).await?;
    haul_ledger::choose(all, release, app, &up, env).map_err(|(msg, left)| {
        let e = ApiError::new(StatusCode::CONFLICT, msg);
        if left.is_empty() { e } else { e.with_detail(json!({ "candidates": left })) }
    })
}

/// Candidates for an environment and what each lacks.
#[utoipa::path(get, path = "/api/v1/promotions/{app}/{env}", params(("app" = String, Path), ("env" = String, Path)),
    responses((status = 200, body = Candidates), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read or deploy"))))]
async fn candidates(
    _: Auth<ReadOrDeploy>,
    S(state): S<State>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let Path((app, env)) = p?;
    known_app_env(&state, &app, Some(&env))?;
    let (upstream, req) = pipeline(&state, &env)?;
    let all = state.ledger.candidates(&app, &upstream, &env, &req).await?;
    ok(Candidates { app, env, upstream, candidates: all.into_iter().map(wire::candidate).collect() })
}

/// Pick the newest release that qualifies (or `release`) and start its
/// promotion (trigger `promote`); 409 lists every unmet requirement of
/// every candidate. The caller runs it and reports hosts and the outcome.
#[utoipa::path(post, path = "/api/v1/promotions", request_body = Promote,
    responses((status = 201, body = PromotionStarted), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn promote(auth: Auth<Deploy>, S(state): S<State>, body: Result<Body<Promote>, ApiError>) -> Res {
    let Body(b) = body?;
    known_app_env(&state, &b.app, Some(&b.env))?;
    let chosen = choose(&state, &b.app, &b.env, b.release.as_deref()).await?;
    let promote = Trigger::Promote;
    let force = gate(&state, &auth, &b.app, &b.env, &chosen.release, promote, false, None).await?;
    let d = NewDeployment {
        app: b.app,
        env: b.env,
        release: chosen.release.clone(),
        trigger: promote,
        actor: actor(auth.name(), b.on_behalf_of.as_deref())?,
        reason: b.reason,
        config_digest: state.config.digest.clone(),
        undoes: None,
        force,
    };
    let lease = crate::lease::lease(&state, None);
    let id = state.ledger.start_leased(&d, state.config.lock.stale_after.0, Some(lease)).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(PromotionStarted { id, release: chosen.release.into_string(), upstream_deployment: chosen.deployment })
}

/// What an environment runs according to the ledger, its last verified
/// release, and the app's quarantined releases (which no run goes to):
/// everything a run reads.
#[utoipa::path(get, path = "/api/v1/apps/{app}/envs/{env}", params(("app" = String, Path), ("env" = String, Path)),
    responses((status = 200, body = AppEnv), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read or deploy"))))]
async fn app_env(
    _: Auth<ReadOrDeploy>,
    S(state): S<State>,
    uri: Uri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let Path((app, env)) = p?;
    known_app_env(&state, &app, Some(&env))?;
    state
        .cache
        .get(&state.ledger, uri.path().to_string(), async {
            let live = state.ledger.live(&app, &env).await?.map(wire::deployment).transpose()?;
            let last_verified = state.ledger.last_verified(&app, &env).await?;
            let quarantined: Vec<String> =
                state.ledger.quarantine_list(&app).await?.into_iter().map(|q| q.release.into_string()).collect();
            Ok(AppEnv {
                app: app.clone(),
                env: env.clone(),
                live,
                last_verified: last_verified.map(haul_release::ReleaseId::into_string),
                quarantined,
            })
        })
        .await
}

/// Approvals of an app, newest first; `next_before` pages on.
#[utoipa::path(get, path = "/api/v1/approvals", params(ApprovalQuery),
    responses((status = 200, body = ApprovalPage), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn list_approvals(
    _: Auth<Read>,
    S(state): S<State>,
    uri: Uri,
    q: Result<Query<ApprovalQuery>, QueryRejection>,
) -> Res {
    let Query(q) = q?;
    let limit = crate::api::limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items =
                state.ledger.approval_list(&q.app, q.release.as_deref(), q.env.as_deref(), q.before, limit).await?;
            let items: Vec<_> = items.into_iter().map(wire::approval).collect();
            let next_before = next(&items, limit, |a| a.id);
            Ok(ApprovalPage { items, next_before })
        })
        .await
}

/// The quarantined releases of an app.
#[utoipa::path(get, path = "/api/v1/quarantines", params(AppQuery),
    responses((status = 200, body = QuarantineList), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn list_quarantines(
    _: Auth<Read>,
    S(state): S<State>,
    uri: Uri,
    q: Result<Query<AppQuery>, QueryRejection>,
) -> Res {
    let Query(q) = q?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items = state.ledger.quarantine_list(&q.app).await?.into_iter().map(wire::quarantine).collect();
            Ok(QuarantineList { items })
        })
        .await
}

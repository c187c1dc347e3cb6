//! The routes of `/api/v1`, `/healthz` and `/metrics`, and the router that
//! serves them and documents them at once (`utoipa_axum::routes!` takes each
//! handler's path and method from its `#[utoipa::path]`).
//!
//! Only `/healthz` answers without a token (it says whether the server and
//! its database answer, nothing more). `/metrics` and the OpenAPI document
//! need a `read` token like every other read: they tell how busy the
//! server is, which webhooks exist and what the API offers.

use crate::auth::{Admin, Approve, Auth, Read, ReadOrVerify, Verify};
use crate::edge::Body;
use crate::openapi::Errors;
use crate::{ApiError, State, wire};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as S};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use haul_api::requests::{Approve as ApproveBody, DeploymentQuery, QuarantineRelease, ReportVerification};
use haul_api::responses::{Approved, DeploymentDetail, DeploymentPage, Health, Quarantined, VerificationReported};
use haul_ledger::NewVerification;
use serde::Serialize;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) type Res = Result<axum::response::Response, ApiError>;

/// Every API route, with its documentation.
pub(crate) fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(get_deployment))
        .routes(routes!(verify))
        .routes(routes!(approve))
        .routes(routes!(quarantine))
        .routes(routes!(audit))
        .merge(crate::records::routes())
        .merge(crate::agents::routes())
        .merge(crate::secrets::routes())
        .merge(crate::lease::routes())
        .merge(crate::events::routes())
        .merge(crate::deliveries::routes())
        .merge(crate::wake::routes())
        .merge(crate::requests::routes())
        .merge(crate::content::routes())
        .merge(crate::pipeline::routes())
}

/// The API's router over `state`, answering a 404 for what it lacks.
pub(crate) fn router(state: State) -> Router {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") }).with_state(state)
}

pub(crate) fn created(v: impl Serialize) -> Res {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(crate) fn ok(v: impl Serialize) -> Res {
    Ok(Json(v).into_response())
}

/// The key of the next page of a list, newest first: the last item's key
/// when the page is full, `None` when this page is the last.
pub(crate) fn next<T, K>(items: &[T], limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    (items.len() as i64 == limit).then(|| items.last().map(&key)).flatten()
}

/// A page size: 50 unless asked, at most 500.
pub(crate) fn limit(asked: Option<i64>) -> Result<i64, ApiError> {
    let limit = asked.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`limit` must be between 1 and 500"));
    }
    Ok(limit)
}

/// Whether the server and its database answer (no token needed).
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 500, response = inline(ErrorRef))))]
async fn healthz(S(state): S<State>) -> Res {
    state.ledger.deployments(None, None, 1).await?;
    ok(Health { ok: true })
}

/// The `Error` response, by reference (for a route that answers few errors).
struct ErrorRef;

impl utoipa::ToResponse<'static> for ErrorRef {
    fn response() -> (&'static str, utoipa::openapi::RefOr<utoipa::openapi::Response>) {
        ("Error", utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")))
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, body = Object), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn openapi(_: Auth<Read>, S(state): S<State>) -> Res {
    ok(crate::openapi::document(&state.config))
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain"), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn metrics(_: Auth<Read>, S(state): S<State>) -> Res {
    let out = crate::metrics::render(&state).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// Deployments, newest first; `next_before` pages on.
#[utoipa::path(get, path = "/api/v1/deployments", params(DeploymentQuery),
    responses((status = 200, body = DeploymentPage), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read or verify"))))]
pub(crate) async fn list_deployments(
    // `haul verify` finds an environment's latest deployment here.
    _: Auth<ReadOrVerify>,
    S(state): S<State>,
    uri: axum::http::Uri,
    q: Result<Query<DeploymentQuery>, QueryRejection>,
) -> Res {
    let Query(q) = q?;
    let limit = limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items = state.ledger.deployments_before(q.app.as_deref(), q.env.as_deref(), q.before, limit).await?;
            let items = wire::deployments(items)?;
            let next_before = next(&items, limit, |d| d.id);
            Ok(DeploymentPage { items, next_before })
        })
        .await
}

/// A deployment with its hosts and verifications.
#[utoipa::path(get, path = "/api/v1/deployments/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DeploymentDetail), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn get_deployment(
    _: Auth<Read>,
    S(state): S<State>,
    uri: axum::http::Uri,
    id: Result<Path<i64>, PathRejection>,
) -> Res {
    let Path(id) = id?;
    state
        .cache
        .get(&state.ledger, uri.path().to_string(), async {
            let deployment = wire::deployment(state.ledger.deployment(id).await?)?;
            let hosts = state.ledger.host_results(id).await?.into_iter().map(wire::host).collect();
            let verifications =
                state.ledger.verifications(id).await?.into_iter().map(wire::verification).collect::<Result<_, _>>()?;
            Ok(DeploymentDetail { deployment, hosts, verifications })
        })
        .await
}

/// Report a verification; a newer report of a name supersedes older ones.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/verifications", params(("id" = i64, Path)),
    request_body = ReportVerification, responses((status = 201, body = VerificationReported), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("verify"))))]
async fn verify(
    auth: Auth<Verify>,
    S(state): S<State>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<ReportVerification>, ApiError>,
) -> Res {
    let Path(id) = id?;
    let Body(b) = body?;
    created(report(&state, auth.name(), id, b).await?)
}

/// Records a verification of deployment `id` by `actor`: the API's and
/// the dashboard's one way in.
pub(crate) async fn report(
    state: &State,
    actor: &str,
    id: i64,
    b: ReportVerification,
) -> Result<VerificationReported, ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`name` must not be empty"));
    }
    let v =
        NewVerification { deployment: id, name: b.name, result: b.result, link: b.link, reporter: actor.to_string() };
    let vid = state.ledger.report_verification(&v).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    store_verification(state, &v).await?;
    Ok(VerificationReported { id: vid, deployment: id })
}

/// For a pull environment of the server's config, the agents' copy of the
/// result in the store (`haul_pull::verify`); a push environment, or one
/// the config does not know, has none. A store that fails is said plainly:
/// the ledger has the result, the agents do not.
async fn store_verification(state: &State, v: &NewVerification) -> Result<(), ApiError> {
    let d = state.ledger.deployment(v.deployment).await?;
    let pull = state.config.env(&d.env).is_ok_and(|e| e.mode() == haul_config::Mode::Pull);
    let Some(store) = state.store.as_ref().filter(|_| pull) else {
        return Ok(());
    };
    let new = haul_store::verifications::NewResult {
        app: &d.app,
        env: &d.env,
        deployment: v.deployment,
        name: &v.name,
        result: haul_pull::verify::outcome(v.result.as_str()),
        link: v.link.as_deref(),
        reporter: &v.reporter,
    };
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::upstream("recorded in the ledger, but not in the store the agents read", e)
    };
    let seal = haul_pull::verify::seal_from_env().map_err(|e| failed(&e))?;
    match haul_pull::verify::record_in(store, &state.config, &new, seal.as_ref()).await.map_err(|e| failed(&e))? {
        // The server holds no report key the blessing lists: the agents
        // would not believe what it wrote, so it wrote nothing.
        haul_store::verifications::Recorded::Unsealed(why) => Err(failed(&why)),
        _ => Ok(()),
    }
}

/// Approve a release for an environment.
#[utoipa::path(post, path = "/api/v1/approvals", request_body = ApproveBody,
    responses((status = 201, body = Approved), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("approve"))))]
async fn approve(auth: Auth<Approve>, S(state): S<State>, body: Result<Body<ApproveBody>, ApiError>) -> Res {
    let Body(b) = body?;
    created(approved(&state, auth.name(), b).await?)
}

/// Records `actor`'s approval: the API's and the dashboard's one way in.
pub(crate) async fn approved(state: &State, actor: &str, b: ApproveBody) -> Result<Approved, ApiError> {
    crate::records::known_app_env(state, &b.app, Some(&b.env))?;
    state.ledger.approve(&b.app, &b.release, &b.env, actor, b.comment.as_deref()).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    Ok(Approved { app: b.app, release: b.release.into_string(), env: b.env, actor: actor.to_string() })
}

/// Quarantine a release.
#[utoipa::path(post, path = "/api/v1/quarantines", request_body = QuarantineRelease,
    responses((status = 201, body = Quarantined), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("admin"))))]
async fn quarantine(auth: Auth<Admin>, S(state): S<State>, body: Result<Body<QuarantineRelease>, ApiError>) -> Res {
    let Body(b) = body?;
    created(quarantined(&state, auth.name(), b).await?)
}

/// Records `actor`'s quarantine: the API's and the dashboard's one way in.
pub(crate) async fn quarantined(state: &State, actor: &str, b: QuarantineRelease) -> Result<Quarantined, ApiError> {
    crate::records::known_app_env(state, &b.app, None)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`reason` must say why"));
    }
    state.ledger.quarantine(&b.app, &b.release, &b.reason, actor).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    Ok(Quarantined { app: b.app, release: b.release.into_string(), actor: actor.to_string() })
}

/// Check the audit chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", responses((status = 200, body = haul_api::records::AuditReport), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("admin"))))]
async fn audit(_: Auth<Admin>, S(state): S<State>) -> Res {
    ok(wire::audit(state.ledger.verify_audit().await?))
}

#[cfg(test)]
#[path = "api/store_tests.rs"]
mod store_tests;

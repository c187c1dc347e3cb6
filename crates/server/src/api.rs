//! The routes of `/api/v1`, `/healthz` and `/metrics`.
//!
//! Only `/healthz` answers without a token (it says whether the server and
//! its database answer, nothing more). `/metrics` and the OpenAPI document
//! need a `read` token like every other read: they tell how busy the
//! server is, which webhooks exist and what the API offers.

use crate::edge::Body;
use crate::{ApiError, State};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use haul_ledger::{NewVerification, VerificationResult};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;

pub(crate) type Res = Result<axum::response::Response, ApiError>;

pub fn routes(state: State) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/deployments", get(list_deployments))
        .merge(crate::records::routes())
        .merge(crate::lease::routes())
        .merge(crate::events::routes())
        .route("/api/v1/deployments/{id}", get(get_deployment))
        .route("/api/v1/deployments/{id}/verifications", post(verify))
        .route("/api/v1/approvals", post(approve))
        .route("/api/v1/quarantines", post(quarantine))
        .route("/api/v1/audit/verify", get(audit))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

/// The name of the token presented, if it may act in `scope`.
pub(crate) fn authorize(state: &State, headers: &HeaderMap, scope: &str) -> Result<String, ApiError> {
    authorize_any(state, headers, &[scope])
}

/// The name of the token presented, if one of `scopes` (or `admin`) lets
/// it act.
pub(crate) fn authorize_any(state: &State, headers: &HeaderMap, scopes: &[&str]) -> Result<String, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "a bearer token is needed (Authorization: Bearer …)");
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(unauthorized)?;
    let secret = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).ok_or_else(unauthorized)?;
    let digest = token_sha256(secret.trim());
    let token = state
        .tokens
        .iter()
        .find(|t| t.sha256.eq_ignore_ascii_case(&digest))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))?;
    if token.scopes.iter().any(|s| scopes.contains(&s.as_str()) || s == "admin") {
        Ok(token.name.clone())
    } else {
        let wanted = scopes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token `{}` lacks the {wanted} scope (it has: {})", token.name, token.scopes.join(", ")),
        ))
    }
}

/// The hex SHA-256 of a token's secret: what `[[server.tokens]] sha256`
/// lists and what a presented token is compared by.
pub fn token_sha256(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn created(v: Value) -> Res {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(crate) fn ok(v: Value) -> Res {
    Ok(Json(v).into_response())
}

/// A page of a list, newest first: `next_before` (the last item's key)
/// asks for the next page, and is null when this page is the last.
pub(crate) fn page<T: serde::Serialize, K: serde::Serialize>(
    items: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> Value {
    let next = (items.len() as i64 == limit).then(|| items.last().map(&key)).flatten();
    json!({ "items": items, "next_before": next })
}

/// A page size: 50 unless asked, at most 500.
pub(crate) fn limit(asked: Option<i64>) -> Result<i64, ApiError> {
    let limit = asked.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`limit` must be between 1 and 500"));
    }
    Ok(limit)
}

async fn healthz(axum::extract::State(state): axum::extract::State<State>) -> Res {
    state.ledger.deployments(None, None, 1).await?;
    ok(json!({ "ok": true }))
}

async fn openapi(axum::extract::State(state): axum::extract::State<State>, headers: HeaderMap) -> Res {
    authorize(&state, &headers, "read")?;
    ok(crate::openapi::document(&state.config))
}

async fn metrics(axum::extract::State(state): axum::extract::State<State>, headers: HeaderMap) -> Res {
    authorize(&state, &headers, "read")?;
    let m = &state.metrics;
    let mut out = String::from("# HELP haul_http_requests_total HTTP requests answered, by status class.\n");
    out.push_str("# TYPE haul_http_requests_total counter\n");
    for (i, n) in m.by_class.iter().enumerate() {
        out.push_str(&format!("haul_http_requests_total{{code=\"{}xx\"}} {}\n", i + 1, n.load(Ordering::Relaxed)));
    }
    out.push_str("# HELP haul_ledger_writes_total Records written to the ledger through the API.\n");
    out.push_str("# TYPE haul_ledger_writes_total counter\n");
    out.push_str(&format!("haul_ledger_writes_total {}\n", m.writes.load(Ordering::Relaxed)));
    out.push_str(&crate::webhooks::metrics(&state).await);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    app: Option<String>,
    env: Option<String>,
    /// Only deployments older than this id (for the next page).
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list_deployments(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: Result<Query<Page>, QueryRejection>,
) -> Res {
    // `haul verify` finds an environment's latest deployment here.
    authorize_any(&state, &headers, &["read", "verify"])?;
    let Query(q) = q?;
    let limit = limit(q.limit)?;
    state
        .cache
        .get(&state.ledger, uri.to_string(), async {
            let items = state.ledger.deployments_before(q.app.as_deref(), q.env.as_deref(), q.before, limit).await?;
            Ok(page(items, limit, |d| d.id))
        })
        .await
}

async fn get_deployment(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    id: Result<Path<i64>, PathRejection>,
) -> Res {
    authorize(&state, &headers, "read")?;
    let Path(id) = id?;
    state
        .cache
        .get(&state.ledger, uri.path().to_string(), async {
            let d = state.ledger.deployment(id).await?;
            let hosts = state.ledger.host_results(id).await?;
            let verifications = state.ledger.verifications(id).await?;
            Ok(json!({ "deployment": d, "hosts": hosts, "verifications": verifications }))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    name: String,
    result: VerificationResult,
    link: Option<String>,
}

async fn verify(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Body<VerifyBody>, ApiError>,
) -> Res {
    let actor = authorize(&state, &headers, "verify")?;
    let Path(id) = id?;
    let Body(b) = body?;
    if b.name.trim().is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`name` must not be empty"));
    }
    let v = NewVerification { deployment: id, name: b.name, result: b.result, link: b.link, reporter: actor };
    let vid = state.ledger.report_verification(&v).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(json!({ "id": vid, "deployment": id }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    app: String,
    release: haul_ledger::ReleaseId,
    env: String,
    comment: Option<String>,
}

async fn approve(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    body: Result<Body<ApproveBody>, ApiError>,
) -> Res {
    let actor = authorize(&state, &headers, "approve")?;
    let Body(b) = body?;
    crate::records::known_app_env(&state, &b.app, Some(&b.env))?;
    state.ledger.approve(&b.app, &b.release, &b.env, &actor, b.comment.as_deref()).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(json!({ "app": b.app, "release": b.release, "env": b.env, "actor": actor }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineBody {
    app: String,
    release: haul_ledger::ReleaseId,
    reason: String,
}

async fn quarantine(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    body: Result<Body<QuarantineBody>, ApiError>,
) -> Res {
    let actor = authorize(&state, &headers, "admin")?;
    let Body(b) = body?;
    crate::records::known_app_env(&state, &b.app, None)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`reason` must say why"));
    }
    state.ledger.quarantine(&b.app, &b.release, &b.reason, &actor).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(json!({ "app": b.app, "release": b.release, "actor": actor }))
}

async fn audit(axum::extract::State(state): axum::extract::State<State>, headers: HeaderMap) -> Res {
    authorize(&state, &headers, "admin")?;
    let report = state.ledger.verify_audit().await?;
    ok(json!(report))
}

//! `POST /api/v1/content-syncs`: a `haul content sync` recorded through the
//! server. The server judges protection by its own config: a sync into a
//! protected environment is recorded only for a token with `admin` and
//! with a reason, as the CLI refuses it without `--force --reason`.

use crate::api::{Res, created};
use crate::auth::{Admin, Auth, Deploy};
use crate::edge::Body;
use crate::openapi::Errors;
use crate::{ApiError, State};
use axum::extract::State as S;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haul_api::requests::{CheckContentSync, RecordContentSync};
use haul_api::responses::ContentSyncRecorded;
use haul_ledger::{ContentOutcome, NewContentSync};
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(record_sync)).routes(routes!(check_sync))
}

/// The one judgement of a sync the server records: known app and
/// environments; into a protected one, `admin` and a reason. Returns
/// whether the target is protected (so the sync is forced).
fn judge(
    state: &State,
    auth: &Auth<Deploy>,
    app: &str,
    from: &str,
    to: &str,
    reason: Option<&str>,
) -> Result<bool, ApiError> {
    let unprocessable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    // Unknown names are 404 as on every route, said without the config
    // file's path.
    crate::records::found_app_env(state, app, Some(from))?;
    crate::records::found_app_env(state, app, Some(to))?;
    let target = state.config.env(to).map_err(|e| unprocessable(e.to_string()))?;
    if !target.protected() {
        return Ok(false);
    }
    auth.also::<Admin>()?;
    if reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(unprocessable(format!("environment `{to}` is protected: a sync into it needs a `reason`")));
    }
    Ok(true)
}

/// Whether a sync about to run would be recorded; nothing is written.
#[utoipa::path(post, path = "/api/v1/content-syncs/check", request_body = CheckContentSync,
    responses((status = 204), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn check_sync(auth: Auth<Deploy>, S(state): S<State>, body: Result<Body<CheckContentSync>, ApiError>) -> Res {
    let Body(b) = body?;
    judge(&state, &auth, &b.app, &b.from, &b.to, b.reason.as_deref())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Record a content sync that ran (into a protected environment: `admin`).
#[utoipa::path(post, path = "/api/v1/content-syncs", request_body = RecordContentSync,
    responses((status = 201, body = ContentSyncRecorded), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn record_sync(auth: Auth<Deploy>, S(state): S<State>, body: Result<Body<RecordContentSync>, ApiError>) -> Res {
    let Body(b) = body?;
    let forced = judge(&state, &auth, &b.app, &b.from, &b.to, b.reason.as_deref())?;
    let s = NewContentSync {
        app: b.app,
        from_env: b.from,
        to_env: b.to,
        sets: b.sets,
        actor: auth.name().to_string(),
        reason: b.reason,
        forced,
        outcome: if b.succeeded { ContentOutcome::Succeeded } else { ContentOutcome::Failed },
        bytes: b.bytes,
        digests: b.digests,
        error: b.error,
    };
    let id = state.ledger.record_content_sync(&s).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    created(ContentSyncRecorded { id })
}

//! `GET /api/v1/agents/secrets?app=&env=` (scope `agent`, and a token whose
//! `secrets` names the environment): the secret files of a pull
//! environment, read from their sources on the server's machine when asked
//! (`haul_deploy::secrets`, the push deploys' reading) and answered with
//! `Cache-Control: no-store`. Never cached or logged; an error names the
//! secret and what failed, never a value.

use crate::api::Res;
use crate::auth::{Agent as AgentScope, Auth};
use crate::openapi::Errors;
use crate::{ApiError, State};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as S};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use haul_api::agents::AgentQuery;
use haul_api::secrets::{SecretFile, SecretFiles};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(get_secrets))
}

/// The secret files of `app` in pull environment `env`: to a token of scope
/// `agent` whose `secrets` names `env` (403 for any other, `admin` too).
#[utoipa::path(get, path = "/api/v1/agents/secrets", params(AgentQuery),
    responses((status = 200, body = SecretFiles), (status = 502, description = "a secret's source failed on the server"), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("agent"))))]
async fn get_secrets(auth: Auth<AgentScope>, S(state): S<State>, q: Result<Query<AgentQuery>, QueryRejection>) -> Res {
    let Query(q) = q?;
    crate::agents::found_pull_env(&state, &q.app, &q.env)?;
    auth.may_speak_for(&q.app, &q.env, None)?;
    // An app without secret files there says so to any agent token: only
    // values need the environment in the token's `secrets`.
    if state.config.secrets(&q.app, &q.env).is_empty() {
        return Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(SecretFiles { files: vec![] })).into_response());
    }
    auth.secrets_of(&q.env)?;
    let values = haul_deploy::secrets::read_all(&state.config, &q.app, &q.env)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let files = values
        .iter()
        .map(|v| SecretFile {
            path: v.secret.path.clone(),
            mode: v.secret.mode,
            owner: v.secret.owner.clone(),
            group: v.secret.group.clone(),
            value: base64::engine::general_purpose::STANDARD.encode(v.bytes()),
        })
        .collect();
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(SecretFiles { files })).into_response())
}

//! The webhook routes of `/api/v1`: the configured webhooks (never their
//! secrets), the outbox's deliveries and their attempts, sending one
//! again, and the deliveries' counts for `/metrics`. The sending itself is
//! `webhooks.rs`.

use crate::api::{Res, limit, next, ok};
use crate::auth::{Admin, Auth, Read};
use crate::openapi::Errors;
use crate::webhooks::redact_url;
use crate::{ApiError, State, wire};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as S};
use axum::http::StatusCode;
use haul_api::DeliveryStatus;
use haul_api::requests::DeliveryQuery;
use haul_api::responses::{DeliveryDetail, DeliveryPage, Redelivered, WebhookList};

/// The webhook routes of `/api/v1`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<State> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(webhooks))
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(redeliver))
}

/// The configured webhooks and the last event each has looked at.
///
/// Never their secrets: `cursor` is the last event looked at, `null` until
/// a server first follows it.
#[utoipa::path(get, path = "/api/v1/webhooks", responses((status = 200, body = WebhookList), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn webhooks(_: Auth<Read>, S(state): S<State>) -> Res {
    let cursors: std::collections::BTreeMap<String, i64> = state.ledger.webhook_cursors().await?.into_iter().collect();
    let items = state
        .config
        .webhooks()
        .into_iter()
        .map(|w| haul_api::records::Webhook {
            url: redact_url(&w.url),
            events: w.events,
            environments: w.environments,
            attempts: w.attempts,
            backoff_ms: w.backoff.as_millis() as u64,
            timeout_ms: w.timeout.as_millis() as u64,
            cursor: cursors.get(&w.name).copied(),
            name: w.name,
        })
        .collect();
    ok(WebhookList { items })
}

/// Webhook deliveries, newest first; `next_before` pages on.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", params(DeliveryQuery),
    responses((status = 200, body = DeliveryPage), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn list(_: Auth<Read>, S(state): S<State>, q: Result<Query<DeliveryQuery>, QueryRejection>) -> Res {
    let Query(q) = q?;
    let limit = limit(q.limit)?;
    if let Some(s) = &q.status
        && s.parse::<DeliveryStatus>().is_err()
    {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`status` is pending, delivered or failed"));
    }
    let items = state.ledger.deliveries(q.webhook.as_deref(), q.status.as_deref(), q.before, limit).await?;
    let items = items.into_iter().map(wire::delivery).collect::<Result<Vec<_>, _>>()?;
    let next_before = next(&items, limit, |d| d.id);
    ok(DeliveryPage { items, next_before })
}

fn no_delivery(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no webhook delivery {id}"))
}

/// A delivery with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryDetail), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn one(_: Auth<Read>, S(state): S<State>, id: Result<Path<i64>, PathRejection>) -> Res {
    let Path(id) = id?;
    let d = state.ledger.delivery(id).await?.ok_or_else(|| no_delivery(id))?;
    let attempts = state.ledger.delivery_attempts(id).await?.into_iter().map(wire::attempt).collect();
    ok(DeliveryDetail { delivery: wire::delivery(d)?, attempts })
}

/// Send a delivery again: pending, due now, with a fresh round of attempts.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/redeliver", params(("id" = i64, Path)),
    responses((status = 200, body = Redelivered), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("admin"))))]
async fn redeliver(_: Auth<Admin>, S(state): S<State>, id: Result<Path<i64>, PathRejection>) -> Res {
    let Path(id) = id?;
    let d = state.ledger.redeliver(id).await?.ok_or_else(|| no_delivery(id))?;
    ok(Redelivered { delivery: wire::delivery(d)? })
}

/// Deliveries by webhook and status, in Prometheus text format.
pub(crate) async fn metrics(state: &State) -> String {
    let mut out = String::from("# HELP haul_webhook_deliveries Webhook deliveries in the outbox, by status.\n");
    out.push_str("# TYPE haul_webhook_deliveries gauge\n");
    for (webhook, status, n) in state.ledger.delivery_counts().await.unwrap_or_default() {
        out.push_str(&format!("haul_webhook_deliveries{{webhook=\"{webhook}\",status=\"{status}\"}} {n}\n"));
    }
    out
}

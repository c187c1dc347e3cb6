//! Runner leases over HTTP: a `haul` CLI running a deployment through the
//! server renews its lease here, and `haul unlock` closes a run that died.
//! The server judges the runners of running deployments with the same rule
//! as host locks (`haul_host::Holder::dead`), from its own machine: a runner
//! on another machine or in another pid namespace is never judged dead here,
//! only its lease can run out.

use crate::api::{Res, authorize, ok};
use crate::{ApiError, State};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::HeaderMap;
use axum::routing::post;
use haul_ledger::{Lease, Runner};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<State> {
    Router::new().route("/api/v1/deployments/{id}/lease", post(renew)).route("/api/v1/deployments/close", post(close))
}

/// The lease a deployment started through this server holds.
pub(crate) fn lease(state: &State, runner: Option<Runner>) -> Lease {
    Lease { runner, ttl: state.config.lock.lease.0, judge: judge() }
}

/// Judges runners by this process's identity.
pub fn judge() -> haul_ledger::Judge {
    let me = haul_host::Holder::current();
    Arc::new(move |r: &Runner| {
        let holder = haul_host::Holder {
            machine: r.machine.clone(),
            pid: r.pid,
            boot: r.boot.clone(),
            pidns: r.pidns.clone(),
            start: r.start,
        };
        holder.dead(&me)
    })
}

async fn renew(S(state): S<State>, headers: HeaderMap, id: Result<Path<i64>, PathRejection>) -> Res {
    authorize(&state, &headers, "deploy")?;
    let Path(id) = id?;
    let until = state.ledger.renew_lease(id, state.config.lock.lease.0).await?;
    ok(json!({ "id": id, "lease_until": haul_ledger::time::text(until) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    app: String,
    env: String,
    reason: String,
    on_behalf_of: Option<String>,
}

async fn close(S(state): S<State>, headers: HeaderMap, body: Result<crate::edge::Body<CloseBody>, ApiError>) -> Res {
    let token = authorize(&state, &headers, "deploy")?;
    let crate::edge::Body(b) = body?;
    crate::records::known_app_env(&state, &b.app, Some(&b.env))?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "`reason` must say why"));
    }
    let actor = crate::records::actor(token, b.on_behalf_of.as_deref())?;
    let closed = state.ledger.close_running(&b.app, &b.env, &b.reason, &actor).await?;
    ok(json!({ "closed": closed }))
}

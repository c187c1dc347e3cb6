//! Runner leases over HTTP: a `haul` CLI running a deployment through the
//! server renews its lease here, and `haul unlock` closes a run that died.
//! The server judges the runners of running deployments with the same rule
//! as host locks (`haul_host::Holder::dead`), from its own machine: a runner
//! on another machine or in another pid namespace is never judged dead here,
//! only its lease can run out.

use crate::api::{Res, ok};
use crate::auth::{Auth, Deploy};
use crate::openapi::Errors;
use crate::{ApiError, State};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use haul_api::requests::CloseRunning;
use haul_api::responses::{Closed, LeaseRenewed};
use haul_ledger::{Lease, Runner};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(renew)).routes(routes!(close))
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

/// Renew a running deployment's lease for the server's `[lock] lease`
/// (409 once it is no longer running).
#[utoipa::path(post, path = "/api/v1/deployments/{id}/lease", params(("id" = i64, Path)),
    responses((status = 200, body = LeaseRenewed), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn renew(_: Auth<Deploy>, S(state): S<State>, id: Result<Path<i64>, PathRejection>) -> Res {
    let Path(id) = id?;
    let lease_until = state.ledger.renew_lease(id, state.config.lock.lease.0).await?;
    ok(LeaseRenewed { id, lease_until: haul_ledger::time::text(lease_until) })
}

/// Close, as failed with a reason, what is still recorded as running of an
/// app in an environment.
#[utoipa::path(post, path = "/api/v1/deployments/close", request_body = CloseRunning,
    responses((status = 200, body = Closed), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn close(auth: Auth<Deploy>, S(state): S<State>, body: Result<crate::edge::Body<CloseRunning>, ApiError>) -> Res {
    let crate::edge::Body(b) = body?;
    crate::records::known_app_env(&state, &b.app, Some(&b.env))?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "`reason` must say why"));
    }
    let actor = crate::records::actor(auth.name(), b.on_behalf_of.as_deref())?;
    let closed = state.ledger.close_running(&b.app, &b.env, &b.reason, &actor).await?;
    ok(Closed { closed })
}

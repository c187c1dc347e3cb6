//! The pipeline of an app, read once for all who show it: the JSON route
//! (`GET /api/v1/pipeline/{app}`), the dashboard's `/pipeline/{app}` and
//! `haul pipeline` over a database all call [`read`], so they cannot
//! disagree about what waits where or what it lacks.
//!
//! Every environment in promotion order; for each, what the ledger says it
//! runs (and whether that passed its verifications), the deployment running
//! now, the newest release that succeeded upstream and is not live here
//! with every requirement it still lacks (the gate's own checks), what
//! `haul promote` would take, the newest content sync into it, and the DORA
//! measures over the window. Where an environment's code and content come
//! from is `haul.toml`'s; the ledger never stores it.

use crate::api::{Res, ok};
use crate::auth::{Auth, Read};
use crate::openapi::Errors;
use crate::records::found_app_env;
use crate::{ApiError, State};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as S};
use haul_api::VerificationResult;
use haul_api::pipeline::{LastSync, Live, Pipeline, Stage, SubsetState, VerificationState, Waiting};
use haul_api::requests::PipelineQuery;
use haul_config::Config;
use haul_ledger::{Ledger, LedgerError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The window the DORA measures cover unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(pipeline))
}

/// Every environment of `app` (which `config` must name) in promotion
/// order, with DORA measures over the last `days` days.
pub async fn read(ledger: &Ledger, config: &Config, app: &str, days: u32) -> Result<Pipeline, LedgerError> {
    let (since, until) = window(days);
    let mut environments = Vec::new();
    for env in config.promotion_order() {
        let Some(e) = config.environments.get(env.as_str()) else { continue };
        let live = match ledger.live(app, &env).await? {
            Some(d) => {
                let vs = ledger.verifications(d.id).await?;
                let verified = if vs.is_empty() {
                    "none"
                } else if vs.iter().all(|v| v.result == VerificationResult::Pass) {
                    "passed"
                } else {
                    "failed"
                };
                Some(Live {
                    release: d.release.into_string(),
                    deployment: d.id,
                    since: d.finished.map(haul_ledger::time::text),
                    verified: verified.into(),
                    verifications: vs
                        .into_iter()
                        .map(|v| VerificationState { name: v.name, result: v.result })
                        .collect(),
                })
            }
            None => None,
        };
        let upstream = config.upstream(&env);
        let (waiting, promotable) = match &upstream {
            None => (None, None),
            Some(up) => {
                let req = crate::requirements(e);
                let assessed = ledger.assess(app, up, &env, &req).await?;
                let is_live = |r: &str| live.as_ref().is_some_and(|l| l.release == r);
                // Newest first: the newest upstream success, unless it is
                // what runs here already.
                let waiting = assessed.first().filter(|a| !is_live(a.release.as_str())).map(|a| Waiting {
                    release: a.release.to_string(),
                    upstream_deployment: a.deployment,
                    qualifies: a.qualifies(),
                    lacks: a.checks.iter().filter(|c| !c.met).map(|c| c.detail.clone()).collect(),
                });
                let promotable = assessed
                    .iter()
                    .find(|a| a.qualifies())
                    .filter(|a| !is_live(a.release.as_str()))
                    .map(|a| a.release.to_string());
                (waiting, promotable)
            }
        };
        let last_sync = ledger.content_syncs(Some(app), Some(&env), 1).await?.into_iter().next().map(|s| LastSync {
            id: s.id,
            from_env: s.from_env,
            sets: s.sets,
            outcome: s.outcome.as_str().into(),
            at: haul_ledger::time::text(s.at),
        });
        let groups = config
            .groups
            .iter()
            .filter(|(_, m)| m.get_ref().iter().any(|m| m.get_ref() == &env))
            .map(|(g, _)| g.get_ref().clone())
            .collect();
        let subsets = config
            .apps
            .get(app)
            .into_iter()
            .flat_map(|a| &a.content)
            .filter_map(|(set, s)| {
                let description = s.get_ref().into_env(&env).subset?;
                Some(SubsetState { set: set.get_ref().clone(), description })
            })
            .collect();
        environments.push(Stage {
            subsets,
            mode: if e.mode() == haul_config::Mode::Pull { "pull" } else { "push" }.into(),
            upstream,
            content: e.content.get_ref().clone(),
            protected: e.protected(),
            groups,
            live,
            running: ledger.running(app, &env).await?.map(|d| d.id),
            waiting,
            promotable,
            last_sync,
            dora: ledger.dora(app, &env, since, until).await?,
            env,
        });
    }
    let window_s = u64::from(days) * 86_400;
    Ok(Pipeline { app: app.to_string(), window_s, at: haul_ledger::time::text(until), environments })
}

/// The DORA window of the last `days` days, ending now: (since, until).
pub(crate) fn window(days: u32) -> (jiff::Timestamp, jiff::Timestamp) {
    let until = haul_ledger::now();
    let since = until.checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(days))).unwrap_or(until);
    (since, until)
}

/// Every environment of an app in promotion order: what each runs and
/// since when, verified or not, what waits to enter it and what it still
/// lacks, its content source and last sync, and the DORA measures over the
/// last `days` days (default 30).
#[utoipa::path(get, path = "/api/v1/pipeline/{app}", params(("app" = String, Path), PipelineQuery),
    responses((status = 200, body = Pipeline), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn pipeline(
    _: Auth<Read>,
    S(state): S<State>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<PipelineQuery>, QueryRejection>,
) -> Res {
    let Path(app) = p?;
    let Query(q) = q?;
    found_app_env(&state, &app, None)?;
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=PipelineQuery::MAX_DAYS).contains(&days) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("`days` must be from 1 to {}", PipelineQuery::MAX_DAYS),
        ));
    }
    ok(read(&state.ledger, &state.config, &app, days).await?)
}

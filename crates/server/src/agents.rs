//! Agents through the server: `POST /api/v1/agents/reports` (scope
//! `agent`) records an agent's report as its latest in the ledger and, when
//! the report's blessing (read from the server's store) names a running
//! deployment, that host's result on it, by `haul_agent::record`'s one
//! mapping; `GET /api/v1/agents` (scope `read` or `agent`) answers each
//! agent's latest, marked silent past the environment's `silent_after`.
//!
//! [`take_in`] is the one way a report enters the ledger, for a post and
//! for the store's reports the server takes in on its own.

use crate::api::{Res, ok};
use crate::auth::{Agent as AgentScope, Auth, ReadOrAgent};
use crate::edge::Body;
use crate::openapi::Errors;
use crate::{ApiError, State};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as S};
use axum::http::StatusCode;
use haul_api::agents::{Agent, AgentList, AgentQuery, AgentReport, AgentReported};
use haul_ledger::{AgentSeen, AgentWrite};
use haul_store::reports::AgentReport as StoreReport;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(post_report)).routes(routes!(list_agents))
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, msg)
}

/// The pull environment `env` of `app`, or why a report about it is
/// refused (422): a report names what it is about in its body.
fn pull_env<'a>(state: &'a State, app: &str, env: &str) -> Result<&'a haul_config::Environment, ApiError> {
    crate::records::known_app_env(state, app, Some(env))?;
    pull_mode(state, env, StatusCode::UNPROCESSABLE_ENTITY)
}

/// The pull environment `env` of `app` for a read, or 404: a query for
/// what the config does not hold finds nothing.
pub(crate) fn found_pull_env<'a>(
    state: &'a State,
    app: &str,
    env: &str,
) -> Result<&'a haul_config::Environment, ApiError> {
    crate::records::found_app_env(state, app, Some(env))?;
    pull_mode(state, env, StatusCode::NOT_FOUND)
}

fn pull_mode<'a>(state: &'a State, env: &str, status: StatusCode) -> Result<&'a haul_config::Environment, ApiError> {
    let e = state.config.env(env).map_err(|e| ApiError::new(status, e.to_string()))?;
    if e.mode() != haul_config::Mode::Pull {
        return Err(ApiError::new(status, format!("environment `{env}` does not deploy by pull; it has no agents")));
    }
    Ok(e)
}

/// Takes `r` into the ledger: the one way, for posts and the store's
/// reports. `Ok(None)`: the ledger already holds it or a newer one
/// (`Err` with 409 for the latter when `refuse_older`).
pub(crate) async fn take_in(
    state: &State,
    r: &StoreReport,
    actor: &str,
    refuse_older: bool,
) -> Result<AgentReported, ApiError> {
    let env = pull_env(state, &r.app, &r.env)?;
    haul_store::keys::component("host", &r.host).map_err(|e| unprocessable(e.to_string()).with_field("host"))?;
    refuse_future(r.at, jiff::Timestamp::now())?;
    let listed: Vec<&String> = env.hosts.iter().map(|h| h.get_ref()).collect();
    if !listed.is_empty() && !listed.contains(&&r.host) {
        return Err(unprocessable(format!("host `{}` is not one of environment `{}`'s hosts", r.host, r.env))
            .with_field("host"));
    }
    let result = deployment_of(state, r)
        .await
        .map(|id| (id, haul_ledger::HostResult::captured(haul_agent::record::host_result(r))));
    let seen = AgentSeen {
        app: r.app.clone(),
        env: r.env.clone(),
        host: r.host.clone(),
        roles: r.roles.clone(),
        labels: r.labels.clone(),
        wave: r.wave.and_then(|w| u32::try_from(w).ok()),
        blessing: r.blessing,
        release: r.release.clone(),
        live: r.live.clone(),
        phase: haul_agent::report::phase_to_api(r.phase),
        error: r.error.clone(),
        at: r.at,
        agent: r.agent.clone(),
    };
    let answer = |recorded, deployment| AgentReported {
        app: r.app.clone(),
        env: r.env.clone(),
        host: r.host.clone(),
        recorded,
        deployment,
    };
    match state.ledger.record_agent(&seen, result, actor).await? {
        AgentWrite::Recorded { deployment, .. } => Ok(answer(true, deployment)),
        AgentWrite::Same => Ok(answer(false, None)),
        AgentWrite::Older { newer } if refuse_older => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the report of host `{}` written at {} is older than the one recorded, written at {}",
                r.host,
                r.at,
                haul_ledger::time::text(newer)
            ),
        )),
        AgentWrite::Older { .. } => Ok(answer(false, None)),
    }
}

/// How far ahead of the server's clock a report's time may be: clocks
/// drift, but a report from the future would stand above every true one
/// (older reports are refused) until that time came.
pub(crate) const AHEAD: std::time::Duration = std::time::Duration::from_secs(300);

/// Refuses a report written (by its agent's clock) more than [`AHEAD`]
/// after `now`, naming both times.
fn refuse_future(at: jiff::Timestamp, now: jiff::Timestamp) -> Result<(), ApiError> {
    if at.duration_since(now).as_secs() > AHEAD.as_secs() as i64 {
        return Err(unprocessable(format!(
            "the report is written at {at}, more than {} s after the server's time ({now}): is the agent's clock right?",
            AHEAD.as_secs()
        ))
        .with_field("at"));
    }
    Ok(())
}

/// The ledger deployment the report's blessing names, when the server's
/// store holds that blessing for the report's release (signed by
/// `[keys].trust` when the file lists trusted keys).
async fn deployment_of(state: &State, r: &StoreReport) -> Option<i64> {
    let (store, version) = (state.store.as_ref()?, r.blessing?);
    let bytes = haul_store::blessings::get(store, &r.app, &r.env, version).await.ok()??;
    let envelope = haul_bless::Envelope::from_bytes(&bytes).ok()?;
    let trusted = state.config.trusted_keys();
    let doc = if trusted.is_empty() {
        envelope.unverified_blessing().ok()?
    } else {
        let keys = trusted.iter().map(|p| haul_bless::PublicKey::read(p)).collect::<Result<Vec<_>, _>>().ok()?;
        let trust = haul_bless::Trust::new(keys, state.config.trust_threshold()).ok()?;
        haul_bless::verify(&envelope, &trust, &r.app, &r.env, None, jiff::Timestamp::now()).ok()?
    };
    (doc.app == r.app && doc.env == r.env && Some(doc.release.as_str()) == r.release.as_deref())
        .then_some(doc.deployment)
        .flatten()
}

/// Report an agent's state (its latest for an app in an environment).
#[utoipa::path(post, path = "/api/v1/agents/reports", request_body = AgentReport,
    responses((status = 200, body = AgentReported), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("agent"))))]
async fn post_report(auth: Auth<AgentScope>, S(state): S<State>, body: Result<Body<AgentReport>, ApiError>) -> Res {
    let Body(b) = body?;
    if b.roles.len() > haul_api::agents::MAX_ROLES
        || b.labels.len() > haul_api::agents::MAX_LABELS
        || b.steps.len() > haul_api::agents::MAX_STEPS
    {
        return Err(unprocessable("a report holds at most 64 roles, 64 labels and 64 steps"));
    }
    let r = haul_agent::report::from_api(b).map_err(unprocessable)?;
    auth.may_speak_for(&r.app, &r.env, Some(&r.host))?;
    ok(take_in(&state, &r, auth.name(), true).await?)
}

/// Each agent's latest report for an app in an environment.
#[utoipa::path(get, path = "/api/v1/agents", params(AgentQuery),
    responses((status = 200, body = AgentList), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read or agent"))))]
async fn list_agents(auth: Auth<ReadOrAgent>, S(state): S<State>, q: Result<Query<AgentQuery>, QueryRejection>) -> Res {
    let Query(q) = q?;
    auth.may_speak_for(&q.app, &q.env, None)?;
    let mut items = agents(&state, &q.app, &q.env).await?;
    // A token bound to hosts reads only what they reported.
    items.retain(|a| auth.may_speak_for(&q.app, &q.env, Some(&a.host)).is_ok());
    ok(AgentList { items })
}

/// Each agent of `app` in `env` as the API answers it. Not cached: a
/// heartbeat does not move the audit head the cache keys on.
pub(crate) async fn agents(state: &State, app: &str, env: &str) -> Result<Vec<Agent>, ApiError> {
    let e = found_pull_env(state, app, env)?;
    Ok(listed(state, e, app, env).await?)
}

/// [`agents`] of pull environment `e` (named `env`), already found.
pub(crate) async fn listed(
    state: &State,
    e: &haul_config::Environment,
    app: &str,
    env: &str,
) -> Result<Vec<Agent>, haul_ledger::LedgerError> {
    let silent_after = e.silent_after().0;
    let now = jiff::Timestamp::now();
    let rows = state.ledger.agents(app, env).await?;
    Ok(rows
        .into_iter()
        .map(|a| {
            let s = a.seen;
            let age = now.as_second().saturating_sub(s.at.as_second());
            Agent {
                silent: age > silent_after.as_secs() as i64,
                app: s.app,
                env: s.env,
                host: s.host,
                roles: s.roles,
                labels: s.labels,
                wave: s.wave,
                blessing: s.blessing,
                release: s.release,
                live: s.live,
                phase: s.phase,
                error: s.error,
                at: haul_ledger::time::text(s.at),
                agent: s.agent,
                recorded: haul_ledger::time::text(a.recorded),
            }
        })
        .collect())
}

/// Takes in the store's reports every few seconds until `stop`: agents
/// without a server, and reports written while it was down, reach the
/// ledger through [`take_in`].
pub(crate) async fn ingest(state: State, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(store) = state.store.clone() else { return };
    let pulls: Vec<(String, String)> = state
        .config
        .apps
        .keys()
        .flat_map(|a| {
            state
                .config
                .environments
                .iter()
                .filter(|(_, e)| e.mode() == haul_config::Mode::Pull)
                .map(move |(e, _)| (a.get_ref().clone(), e.get_ref().clone()))
        })
        .collect();
    // What was last said of each pair and host: a refusal (an unlisted
    // host, a clock ahead) or an unreadable store is said once, not every
    // round, and again only when it changes; each is tried again next round.
    let mut said: Said = Default::default();
    // Read once: the keys blessings are judged with are the config's,
    // which does not change while the server runs.
    let trust = haul_pull::trust(&state.config).map_err(|e| e.to_string());
    loop {
        for (app, env) in &pulls {
            // Reports are taken by the rule of the latest blessing, as
            // agents take them; a report key file that cannot be read, or a
            // store that cannot be read, leaves that environment's store
            // reports untaken (said once), never taken unchecked.
            let reporters = match &trust {
                Ok(t) => haul_pull::reporters_now(&state.config, &store, t.as_ref(), app, env)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            };
            let reporters = match reporters {
                Ok(r) => r,
                Err(e) => {
                    say(&mut said, (app.clone(), env.clone(), String::new()), "keys".into(), e);
                    continue;
                }
            };
            // Each report is judged alone: one a hostile writer put there
            // is said and does not keep the others out of the ledger.
            let mut unread = std::collections::HashSet::new();
            let reports = match haul_store::reports::read_each(&store, app, env, &reporters).await {
                Ok(read) => {
                    for u in &read.problems {
                        unread.insert(format!("\0{}", u.key));
                        say(
                            &mut said,
                            (app.clone(), env.clone(), format!("\0{}", u.key)),
                            "unread".into(),
                            u.to_string(),
                        );
                    }
                    read.reports
                }
                Err(e) => {
                    say(&mut said, (app.clone(), env.clone(), String::new()), "store".into(), e.to_string());
                    continue;
                }
            };
            let hosts: std::collections::HashSet<&str> = reports.iter().map(|r| r.host.as_str()).collect();
            forget_gone(&mut said, app, env, |h| unread.contains(h) || hosts.contains(h));
            for r in reports {
                if state.ledger.agent_at(app, env, &r.host).await.ok().flatten().is_some_and(|at| at >= r.at) {
                    continue;
                }
                match take_in(&state, &r, "store", false).await {
                    Ok(_) => {
                        said.remove(&(app.clone(), env.clone(), r.host.clone()));
                    }
                    Err(e) => {
                        let kind = format!("{} {:?}", e.status, e.detail);
                        say(
                            &mut said,
                            (app.clone(), env.clone(), r.host.clone()),
                            kind,
                            format!("host `{}`: {}", r.host, e.message),
                        );
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(INGEST_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// What the intake last said, by (app, env, host; empty for the store).
type Said = std::collections::HashMap<(String, String, String), String>;

/// Forgets what was said of `app` in `env` but is no longer there: the
/// store-wide problem (the store was read this round) and every host or
/// report key `still` does not name, so a writer cycling bad names cannot
/// grow the intake's memory, and a problem that comes back is said again.
fn forget_gone(said: &mut Said, app: &str, env: &str, still: impl Fn(&str) -> bool) {
    said.retain(|(a, e, h), _| a != app || e != env || (!h.is_empty() && still(h)));
}

/// Logs `message` about `key` unless the same kind of thing (`kind`: a
/// refusal's status and field, not its text, which may hold times) was
/// said of it last.
fn say(said: &mut Said, key: (String, String, String), kind: String, message: String) {
    if said.get(&key) != Some(&kind) {
        #[allow(clippy::print_stderr)] // the server's log is its standard error
        {
            eprintln!("haul server: taking in the store's reports of {} in {}: {message}", key.0, key.1);
        }
        said.insert(key, kind);
    }
}

/// How often the store's reports are taken in.
const INGEST_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

#[cfg(test)]
mod bound;
#[cfg(test)]
mod tests;

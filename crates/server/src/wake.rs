//! Waking agents: `GET /api/v1/agents/wake`, a Server-Sent Events stream
//! that says "a newer blessing of this app exists" the moment the server
//! knows, so an agent polls the store now instead of at its next interval.
//!
//! One task per server (`watch_store`) polls the `latest` hint of every app
//! in every pull environment with If-None-Match (an unchanged hint costs one
//! small request), reads the newest version from the store's listing when
//! the hint moved, and raises it in the [`Hub`]; blessings the server makes
//! itself raise it directly ([`bump`]). Every subscription only compares
//! the hub's numbers with the last ones it sent when the hub's generation
//! moves: no database read, no store read and no buffer per subscriber, so
//! ten thousand idle agents cost little more than their connections.
//!
//! The event carries a version, not a blessing. Agents still read the
//! signed envelope from the store and judge it with `haul_bless::verify`:
//! a lying or compromised server can wake agents early or not at all
//! (their poll interval stays the safety net), never make one accept
//! anything.

use crate::api::Res;
use crate::auth::{Auth, ReadOrAgent};
use crate::openapi::Errors;
use crate::{ApiError, State};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as S};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::{Event as Sse, KeepAlive};
use haul_api::wake::{MAX_WAKE_APPS, WAKE_EVENT, Wake, WakeQuery};
use haul_config::Config;
use haul_store::{Fetched, StoreError, blessings};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(wake))
}

/// How often the store's hints are read.
const POLL: Duration = Duration::from_millis(200);

/// How often a subscription sends a keep-alive comment (an agent takes a
/// silence three times as long for a dead connection).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One (app, pull environment) and the newest blessing version known.
#[derive(Debug)]
struct Pair {
    app: String,
    env: String,
    version: AtomicU64,
}

/// The newest blessing version of every app in every pull environment,
/// shared by all subscriptions; `generation` moves whenever one rises.
#[derive(Debug)]
pub(crate) struct Hub {
    pairs: Vec<Pair>,
    generation: watch::Sender<u64>,
}

impl Hub {
    /// Every app of `config` in each of its pull environments, at version 0.
    pub(crate) fn new(config: &Config) -> Hub {
        let mut pairs = Vec::new();
        for (env, e) in &config.environments {
            if e.mode() != haul_config::Mode::Pull {
                continue;
            }
            for app in config.apps.keys() {
                let (app, env) = (app.get_ref().clone(), env.get_ref().clone());
                pairs.push(Pair { app, env, version: AtomicU64::new(0) });
            }
        }
        Hub { pairs, generation: watch::channel(0).0 }
    }

    /// How many subscriptions follow the hub (tests: one ends with its
    /// connection).
    #[cfg(test)]
    pub(crate) fn receivers(&self) -> usize {
        self.generation.receiver_count()
    }

    fn index(&self, app: &str, env: &str) -> Option<usize> {
        self.pairs.iter().position(|p| p.app == app && p.env == env)
    }

    /// Raises the newest version of `app` in `env` to `version` (never
    /// lowers it) and wakes the subscriptions when it rose.
    fn raise(&self, i: usize, version: u64) {
        if self.pairs[i].version.fetch_max(version, Ordering::SeqCst) < version {
            self.generation.send_modify(|g| *g += 1);
        }
    }
}

/// Tells the subscribers of `app` in `env` that version `version` is
/// blessed (for blessings the server makes itself, so they need not wait
/// for the next read of the store). A pair the hub does not follow is
/// ignored.
#[allow(dead_code)] // FOUNDATION: called by the server's own blessings
pub(crate) fn bump(state: &State, app: &str, env: &str, version: u64) {
    if let Some(i) = state.wake.index(app, env) {
        state.wake.raise(i, version);
    }
}

/// Follows the store's blessings of every pull (app, env) into the hub
/// until `stop` turns true. Does nothing without a store.
pub(crate) async fn watch_store(state: State, mut stop: watch::Receiver<bool>) {
    let Some(store) = state.store.clone() else { return };
    let hub = state.wake.clone();
    let mut etags: Vec<Option<String>> = vec![None; hub.pairs.len()];
    let mut failing = vec![false; hub.pairs.len()];
    let mut round: u64 = 0;
    loop {
        for (i, p) in hub.pairs.iter().enumerate() {
            // The listing is read when the hint moved, at the start, and
            // now and then while the hint is missing or unreadable (a
            // blesser killed between its two writes leaves no hint).
            let now_and_then = round.is_multiple_of(25);
            let list = match blessings::poll(&store, &p.app, &p.env, etags[i].as_deref()).await {
                Ok(Fetched::Unchanged) => Ok(false),
                Ok(Fetched::Body { etag, .. }) => {
                    etags[i] = etag;
                    Ok(true)
                }
                Ok(Fetched::Missing) => {
                    etags[i] = None;
                    Ok(now_and_then)
                }
                Err(StoreError::Corrupt { .. } | StoreError::TooLarge { .. }) => {
                    etags[i] = None;
                    Ok(now_and_then)
                }
                Err(e) => Err(e),
            };
            let read = match list {
                Ok(true) => blessings::latest(&store, &p.app, &p.env).await.map(|l| l.map(|(v, _)| v)),
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            };
            match read {
                Ok(version) => {
                    if std::mem::take(&mut failing[i]) {
                        log(&format!("the blessings of {} in {} can be read again", p.app, p.env));
                    }
                    if let Some(v) = version {
                        hub.raise(i, v);
                    }
                }
                Err(e) => {
                    // A store that is away is said once, not five times a second.
                    if !std::mem::replace(&mut failing[i], true) {
                        log(&format!("reading the blessings of {} in {}: {e}", p.app, p.env));
                    }
                    etags[i] = None;
                }
            }
        }
        round += 1;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn log(message: &str) {
    #[allow(clippy::print_stderr)] // the server's log is its standard error
    {
        eprintln!("haul server: wake-ups: {message}");
    }
}

/// Be woken when a newer blessing exists (Server-Sent Events).
///
/// An agent's subscription: a `blessing` event (data: `Wake`, JSON) each
/// time the newest blessing of one of the apps rises above the last version
/// sent, starting at `after` (so an app already above it is announced at
/// once), and a keep-alive comment every 15 seconds. The event is only a
/// hint to read the store now: agents judge the signed blessing they find
/// there, never the event. The stream ends when the server stops.
#[utoipa::path(get, path = "/api/v1/agents/wake", params(WakeQuery),
    responses((status = 200, description = "Server-Sent Events: `event: blessing`, `data` a JSON `{app, env, version}`; keep-alive comments"), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read or agent"))))]
async fn wake(auth: Auth<ReadOrAgent>, S(state): S<State>, q: Result<Query<WakeQuery>, QueryRejection>) -> Res {
    let Query(q) = q?;
    let unprocessable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let apps = q.apps();
    if apps.is_empty() {
        // Nothing to follow is not found, like an app the config lacks.
        return Err(ApiError::new(StatusCode::NOT_FOUND, "`app` names no app"));
    }
    let after = match q.after {
        Some(n) if n < 0 => return Err(unprocessable("`after` must not be negative".into())),
        Some(n) => n as u64,
        None => 0,
    };
    for app in &apps {
        crate::records::found_app_env(&state, app, Some(&q.env))?;
        auth.may_speak_for(app, &q.env, None)?;
    }
    // After the names: a list of unknown apps is not found, however long.
    if apps.len() > MAX_WAKE_APPS {
        return Err(unprocessable(format!("`app` names {} apps; at most {MAX_WAKE_APPS}", apps.len())));
    }
    let mut subs = Vec::with_capacity(apps.len());
    for app in &apps {
        let Some(i) = state.wake.index(app, &q.env) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("environment `{}` deploys by push: its hosts have no agents to wake", q.env),
            ));
        };
        subs.push(Sub { pair: i as u32, sent: after });
    }
    let follow = Follow {
        generation: state.wake.generation.subscribe(),
        hub: state.wake.clone(),
        stop: state.stop.clone(),
        subs: subs.into_boxed_slice(),
    };
    let events = futures_util::stream::unfold(follow, Follow::next);
    Ok(axum::response::Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// One followed pair and the last version sent for it.
struct Sub {
    pair: u32,
    sent: u64,
}

/// One subscription: what it follows and nothing else.
struct Follow {
    hub: Arc<Hub>,
    generation: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    subs: Box<[Sub]>,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Sse, std::convert::Infallible>, Follow)> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            // Seen before the numbers are read: a rise after this moves
            // the generation again, so none is missed.
            self.generation.borrow_and_update();
            for s in self.subs.iter_mut() {
                let p = &self.hub.pairs[s.pair as usize];
                let version = p.version.load(Ordering::SeqCst);
                if version > s.sent {
                    s.sent = version;
                    let wake = Wake { app: p.app.clone(), env: p.env.clone(), version };
                    let sse = Sse::default().event(WAKE_EVENT).json_data(&wake).unwrap_or_else(|_| Sse::default());
                    return Some((Ok(sse), self));
                }
            }
            tokio::select! {
                changed = self.generation.changed() => if changed.is_err() { return None },
                _ = self.stop.wait_for(|s| *s) => return None,
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

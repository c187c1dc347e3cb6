//! `haul server`: the ledger over HTTP, for CI systems, people and agents.
//!
//! The server takes a bound listener and a shutdown future, so tests start
//! it on port 0 and stop it cleanly. Every route under `/api/v1` needs a
//! bearer token whose SHA-256 is in `haul.toml` and whose scopes allow the
//! route; tokens are never logged. Errors are JSON with the status that
//! fits (400, 401, 403, 404, 409, 413, 422); 503 means the database cannot
//! be reached (the server keeps running and answers again once it can); a
//! server error (500) only ever means the database failed.

mod agents;
mod api;
mod auth;
mod cache;
mod content;
mod dashboard;
mod deliveries;
mod edge;
mod error;
mod events;
mod feed;
mod front;
mod lease;
mod metrics;
mod openapi;
pub mod pipeline;
mod push;
mod records;
mod requests;
#[cfg(test)]
mod routes_test;
mod secrets;
mod wake;
mod webhooks;
mod wire;

pub use auth::token_sha256;
pub use lease::judge;
pub use records::{pipeline_of, requirements};

pub use dashboard::session::check_session_key;
pub use error::ApiError;
pub use webhooks::check_webhooks;

use axum::Router;
use haul_config::Config;
use haul_ledger::Ledger;
use std::sync::Arc;

/// A token the server accepts.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    pub scopes: Vec<String>,
    /// The pull environments whose secret files it may fetch.
    pub secrets: Vec<String>,
    /// What an agent token may speak for (anything when unbound).
    pub bound: auth::Binding,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) ledger: Ledger,
    /// The `haul.toml` the server runs under: apps, environments, hosts,
    /// requirements, tokens and webhooks come from it, never from the
    /// database.
    pub(crate) config: Arc<Config>,
    pub(crate) tokens: Arc<Vec<Token>>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Answers to reads, kept until the ledger changes.
    pub(crate) cache: Arc<cache::Cache>,
    /// The newest events, as last read from the database, shared by
    /// every stream.
    pub(crate) feed: Arc<feed::Feed>,
    /// Turns true when the server stops, ending long-lived responses.
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
    /// The object store of pull deploys, when `haul.toml` has a pull
    /// environment: agents' reports, blessings and spooled releases.
    pub(crate) store: Option<haul_store::Store>,
    /// The newest blessing of every pull (app, env), for agents' wake-ups.
    pub(crate) wake: Arc<wake::Hub>,
}

impl State {
    pub fn new(ledger: Ledger, config: Arc<Config>) -> State {
        let tokens = config
            .server
            .tokens
            .iter()
            .map(|t| {
                let t = t.get_ref();
                Token {
                    name: t.name.clone(),
                    sha256: t.sha256.to_lowercase(),
                    scopes: t.scopes.clone(),
                    secrets: t.secrets.iter().map(|e| e.get_ref().clone()).collect(),
                    bound: auth::Binding::of(t),
                }
            })
            .collect();
        State {
            ledger,
            tokens: Arc::new(tokens),
            metrics: Arc::default(),
            cache: Arc::default(),
            feed: Arc::default(),
            stop: tokio::sync::watch::channel(false).1,
            store: None,
            wake: Arc::new(wake::Hub::new(&config)),
            config,
        }
    }

    /// The same, with the object store pull deploys use.
    pub fn with_store(self, store: haul_store::Store) -> State {
        State { store: Some(store), ..self }
    }
}

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The application: every route, the body limit, the request counter.
pub fn app(state: State) -> Router {
    api::router(state.clone())
        .merge(dashboard::routes(state.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(edge::middleware))
        .layer(axum::middleware::from_fn_with_state(state, count))
}

async fn count(
    axum::extract::State(state): axum::extract::State<State>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let arrived = std::time::Instant::now();
    let res = next.run(req).await;
    state.metrics.record(&route, res.status().as_u16(), arrived.elapsed());
    res
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
/// Background work (the event feed, webhook deliveries) runs beside the
/// listener and stops with it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut state: State,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    state.stop = stop_rx.clone();
    let background = background(state.clone(), stop_rx.clone());
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    // One router for every connection: serving a `Router` itself rebuilds
    // its route table for each connection accepted and holds that copy for
    // the connection's life (about 55 KiB each here, which 10,000 agents'
    // subscriptions multiply; BENCHMARKS.md, "Pull deploys"); the make-service shares it.
    // The agents' wake subscriptions are served by the front door outside
    // hyper's connections (`front.rs`), through the same router.
    let router = app(state);
    let front = front::front(listener, router.clone(), stop_rx.clone())?;
    let served = axum::serve(front, router.into_make_service()).with_graceful_shutdown(shutdown).await;
    background.await;
    served
}

/// Starts the server's background tasks; the returned future ends once
/// `stop` turns true and every task has finished what it was doing.
fn background(state: State, stop: tokio::sync::watch::Receiver<bool>) -> impl std::future::Future<Output = ()> {
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = vec![
        tokio::spawn(events::watch_head(state.clone(), stop.clone())),
        tokio::spawn(webhooks::run(state.clone(), stop.clone())),
        tokio::spawn(agents::ingest(state.clone(), stop.clone())),
    ];
    if state.store.is_some() {
        tasks.push(tokio::spawn(wake::watch_store(state.clone(), stop.clone())));
    }
    async move {
        for t in tasks {
            let _ = t.await;
        }
    }
}

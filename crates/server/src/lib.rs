//! `haul server`: the ledger over HTTP, for CI systems, people and agents.
//!
//! The server takes a bound listener and a shutdown future, so tests start
//! it on port 0 and stop it cleanly. Every route under `/api/v1` needs a
//! bearer token whose SHA-256 is in `haul.toml` and whose scopes allow the
//! route; tokens are never logged. Errors are JSON with the status that
//! fits (400, 401, 403, 404, 409, 413, 422); a server error (500) only ever
//! means the database failed.

mod api;
mod error;
mod openapi;

pub use error::ApiError;

use axum::Router;
use haul_ledger::Ledger;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A token the server accepts.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("name", &self.name).field("scopes", &self.scopes).finish_non_exhaustive()
    }
}

/// Request counts by status class, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_class: [AtomicU64; 5],
    writes: AtomicU64,
}

impl Metrics {
    fn record(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) ledger: Ledger,
    pub(crate) tokens: Arc<Vec<Token>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl State {
    pub fn new(ledger: Ledger, tokens: Vec<Token>) -> State {
        State { ledger, tokens: Arc::new(tokens), metrics: Arc::default() }
    }
}

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The application: every route, the body limit, the request counter.
pub fn app(state: State) -> Router {
    api::routes(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state, count))
}

async fn count(
    axum::extract::State(state): axum::extract::State<State>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    state.metrics.record(res.status().as_u16());
    res
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: State,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

//! The event feed: every ledger write as an event, read by page
//! (`GET /api/v1/events`) or followed live over Server-Sent Events
//! (`GET /api/v1/events/stream`).
//!
//! Events are the audit log's entries, so they are durable, ordered and the
//! same on every replica. One task per server reads what is new in the log
//! (one query every 200 ms) into the shared feed (`feed.rs`) and wakes the
//! streams, which take their events from it. A stream that falls behind the
//! feed's window or reconnects with an old `Last-Event-ID` reads from the
//! database until it reaches the window, so it loses nothing; writes made
//! by other replicas or by a CLI writing to the database directly are seen
//! too.

use crate::api::{Res, limit, ok};
use crate::auth::{Auth, Read};
use crate::feed::Shared;
use crate::openapi::Errors;
use crate::{ApiError, State, wire};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as S};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use haul_api::records::Event;
use haul_api::requests::{EventQuery as Filter, StreamQuery};
use haul_api::responses::EventPage;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(page)).routes(routes!(stream))
}

/// How often the head of the log is read.
const POLL: Duration = Duration::from_millis(200);

/// How many events one read of the log takes.
const BATCH: i64 = 500;

/// Reads what is new in the audit log into the feed until `stop` turns
/// true. The feed starts at the head as first read: history is for the
/// database to serve.
pub async fn watch_head(state: State, mut stop: watch::Receiver<bool>) {
    loop {
        if let Some(head) = state.feed.head() {
            if let Ok(batch) = state.ledger.events_after(head, BATCH).await {
                let full = batch.len() as i64 == BATCH;
                state.feed.extend(batch.into_iter().map(wire::event));
                if full && !*stop.borrow() {
                    continue;
                }
            }
        } else if let Ok(seq) = state.ledger.last_event().await {
            state.feed.start_at(seq);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Whether an event passes a filter's `app`, `env` and `kinds`.
trait Matches {
    fn matches(&self, e: &Event) -> bool;
}

impl Matches for Filter {
    fn matches(&self, e: &Event) -> bool {
        let field = |k: &str| e.data.get(k).and_then(|v| v.as_str());
        self.app.as_deref().is_none_or(|a| field("app") == Some(a))
            && self.env.as_deref().is_none_or(|n| field("env") == Some(n))
            && self.kinds.as_deref().is_none_or(|ks| {
                ks.split(',').map(str::trim).any(|k| match k.strip_suffix('*') {
                    Some(prefix) => e.kind.starts_with(prefix),
                    None => e.kind == k,
                })
            })
    }
}

/// Events (every ledger write) after `after`, oldest first; `next_after`
/// pages on.
#[utoipa::path(get, path = "/api/v1/events", params(Filter),
    responses((status = 200, body = EventPage), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn page(_: Auth<Read>, S(state): S<State>, q: Result<Query<Filter>, QueryRejection>) -> Res {
    let Query(f) = q?;
    let limit = limit(f.limit)?;
    let mut cursor = f.after.unwrap_or(0);
    let mut items = Vec::new();
    // Filtered pages scan on until they are full or the log ends.
    loop {
        let batch = state.ledger.events_after(cursor, 500).await?;
        let Some(last) = batch.last() else { break };
        cursor = last.seq;
        for e in batch.into_iter().map(wire::event) {
            if f.matches(&e) {
                items.push(e);
                if items.len() as i64 == limit {
                    let next_after = items.last().map(|e| e.seq);
                    return ok(EventPage { items, next_after });
                }
            }
        }
    }
    ok(EventPage { items, next_after: None })
}

/// Follow events live as Server-Sent Events (`id` is the event number;
/// send `Last-Event-ID` to resume).
///
/// Streams events as they are recorded. Starts after `after`, or after
/// the `Last-Event-ID` a reconnecting client sends, or at the end of the
/// log (only what happens from now on).
#[utoipa::path(get, path = "/api/v1/events/stream", params(StreamQuery),
    responses((status = 200, description = "Server-Sent Events: `id` is the event number, `event` its type, `data` the event"), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("read"))))]
async fn stream(
    _: Auth<Read>,
    S(state): S<State>,
    headers: HeaderMap,
    q: Result<Query<Filter>, QueryRejection>,
) -> Res {
    follow(state, &headers, q, true, None).await
}

/// `/live`: the same stream for the dashboard's pages (signed in by their
/// session), each event unnamed so a page's script hears every one; the
/// event is only a cue to fetch the page again.
///
/// Signed in by a session, the stream ends when the session expires: a
/// page left open does not go on hearing the log past the sign-in it was
/// given (the page's script then reconnects, and is sent to sign in).
pub(crate) async fn live(
    viewer: crate::dashboard::Viewer,
    S(state): S<State>,
    headers: HeaderMap,
    q: Result<Query<Filter>, QueryRejection>,
) -> Res {
    let until = viewer.session().and_then(crate::dashboard::session::expires).map(Deadline::at);
    follow(state, &headers, q, false, until).await
}

/// Follows the log from where the client says, filtered, events named by
/// their kind when `named`.
/// With `until`, the stream ends then.
async fn follow(
    state: State,
    headers: &HeaderMap,
    q: Result<Query<Filter>, QueryRejection>,
    named: bool,
    until: Option<Deadline>,
) -> Res {
    let Query(f) = q?;
    if f.limit.is_some() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "`limit` applies to /api/v1/events, not to the stream"));
    }
    let resume = match headers.get("last-event-id").map(|h| h.to_str().ok().and_then(|s| s.parse::<i64>().ok())) {
        Some(None) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "`Last-Event-ID` must be an event number")),
        Some(Some(seq)) => Some(seq),
        None => None,
    };
    let cursor = match resume.or(f.after) {
        Some(seq) => seq,
        None => state.ledger.last_event().await?,
    };
    let follow = Follow {
        feed: state.feed.subscribe(),
        stop: state.stop.clone(),
        state,
        filter: f,
        cursor,
        ready: VecDeque::new(),
        named,
        until,
        sent: tokio::time::Instant::now(),
    };
    let events = futures_util::stream::unfold(follow, Follow::next);
    let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    Ok((headers, Body::from_stream(events)).into_response())
}

/// How long a stream with nothing to send stays silent before it sends a
/// comment, so proxies and clients keep an idle connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How many events a stream takes at a time.
const STEP: usize = 200;

/// One client's place in the log.
struct Follow {
    state: State,
    feed: watch::Receiver<i64>,
    stop: watch::Receiver<bool>,
    filter: Filter,
    cursor: i64,
    ready: VecDeque<Arc<Shared>>,
    /// Whether each event carries its kind as the SSE event name.
    named: bool,
    /// When the stream ends (a dashboard session's expiry).
    until: Option<Deadline>,
    /// When the stream last sent anything, for [`KEEP_ALIVE`].
    sent: tokio::time::Instant,
}

/// When a stream ends, held both ways: the monotonic clock wakes the
/// stream, the wall clock (the one a session's expiry is written in) is
/// asked too, so a clock set forward or a suspended machine cannot stretch
/// a stream past its session.
#[derive(Clone, Copy)]
struct Deadline {
    wall: i64,
    wake: tokio::time::Instant,
}

impl Deadline {
    /// A session never outlives its own sign-in, so a wake past that
    /// (an absurd expiry) is held to it.
    fn at(wall: i64) -> Deadline {
        let left =
            wall.saturating_sub(jiff::Timestamp::now().as_second()).clamp(0, crate::dashboard::session::SESSION_SECS);
        let now = tokio::time::Instant::now();
        Deadline { wall, wake: now.checked_add(Duration::from_secs(left as u64)).unwrap_or(now) }
    }

    fn passed(&self) -> bool {
        tokio::time::Instant::now() >= self.wake || jiff::Timestamp::now().as_second() >= self.wall
    }
}

impl Follow {
    /// The next chunk of the stream: every event ready, or a keep-alive.
    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Follow)> {
        loop {
            if *self.stop.borrow() || self.until.is_some_and(|u| u.passed()) {
                return None;
            }
            if !self.ready.is_empty() {
                let message = |e: &Shared| if self.named { e.named.clone() } else { e.message.clone() };
                let chunk = if self.ready.len() == 1 {
                    message(&self.ready[0])
                } else {
                    let mut chunk = Vec::with_capacity(self.ready.iter().map(|e| message(e).len()).sum());
                    for e in &self.ready {
                        chunk.extend_from_slice(&message(e));
                    }
                    Bytes::from(chunk)
                };
                self.ready.clear();
                self.sent = tokio::time::Instant::now();
                return Some((Ok(chunk), self));
            }
            let batch = match self.state.feed.after(self.cursor, STEP) {
                Some(kept) => kept,
                // Before the feed's window: from the database. Unavailable
                // for a moment: wait, and try again.
                None => match self.state.ledger.events_after(self.cursor, STEP as i64).await {
                    Ok(read) => read.into_iter().map(|e| Shared::new(wire::event(e))).collect(),
                    Err(_) => Vec::new(),
                },
            };
            if let Some(last) = batch.last() {
                self.cursor = last.event.seq;
                self.ready.extend(batch.into_iter().filter(|e| self.filter.matches(&e.event)));
                continue;
            }
            // Caught up: say so now and then, and wait for the head to move
            // (or the server to stop).
            if self.sent.elapsed() >= KEEP_ALIVE {
                self.sent = tokio::time::Instant::now();
                return Some((Ok(Bytes::from_static(b":\n\n")), self));
            }
            self.feed.mark_unchanged();
            let wake = (tokio::time::Instant::now() + POLL * 5).min(self.sent + KEEP_ALIVE);
            tokio::select! {
                changed = self.feed.changed() => if changed.is_err() { return None },
                _ = self.stop.wait_for(|s| *s) => return None,
                _ = tokio::time::sleep_until(self.until.map_or(wake, |u| u.wake.min(wake))) => {}
            }
        }
    }
}

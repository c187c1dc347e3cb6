//! The event feed: every ledger write as an event, read by page
//! (`GET /api/v1/events`) or followed live over Server-Sent Events
//! (`GET /api/v1/events/stream`).
//!
//! Events are the audit log's entries, so they are durable, ordered and the
//! same on every replica. One task per server watches the log's head (a
//! single-row read every 200 ms) and wakes the streams, which then read
//! what is new from the database themselves: a stream that falls behind or
//! reconnects with `Last-Event-ID` loses nothing, and writes made by other
//! replicas or by a CLI writing to the database directly are seen too.

use crate::api::{Res, limit, ok};
use crate::auth::{Auth, Read};
use crate::openapi::Errors;
use crate::{ApiError, State, wire};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event as Sse, KeepAlive};
use haul_api::records::Event;
use haul_api::requests::{EventQuery as Filter, StreamQuery};
use haul_api::responses::EventPage;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(page)).routes(routes!(stream))
}

/// How often the head of the log is read.
const POLL: Duration = Duration::from_millis(200);

/// Follows the head of the audit log into `feed` until `stop` turns true.
pub async fn watch_head(state: State, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(seq) = state.ledger.last_event().await {
            state.feed.send_if_modified(|have| {
                let newer = seq > *have;
                *have = seq.max(*have);
                newer
            });
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
    follow(state, &headers, q, true).await
}

/// `/live`: the same stream for the dashboard's pages (signed in by their
/// session), each event unnamed so a page's script hears every one; the
/// event is only a cue to fetch the page again.
pub(crate) async fn live(
    _: crate::dashboard::Viewer,
    S(state): S<State>,
    headers: HeaderMap,
    q: Result<Query<Filter>, QueryRejection>,
) -> Res {
    follow(state, &headers, q, false).await
}

/// Follows the log from where the client says, filtered, events named by
/// their kind when `named`.
async fn follow(state: State, headers: &HeaderMap, q: Result<Query<Filter>, QueryRejection>, named: bool) -> Res {
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
    };
    let events = futures_util::stream::unfold(follow, Follow::next);
    Ok(axum::response::Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// One client's place in the log.
struct Follow {
    state: State,
    feed: watch::Receiver<i64>,
    stop: watch::Receiver<bool>,
    filter: Filter,
    cursor: i64,
    ready: VecDeque<Event>,
    /// Whether each event carries its kind as the SSE event name.
    named: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Sse, std::convert::Infallible>, Follow)> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            if let Some(e) = self.ready.pop_front() {
                let sse = Sse::default().id(e.seq.to_string());
                let sse = if self.named { sse.event(e.kind.clone()) } else { sse };
                let sse = sse.json_data(&e).unwrap_or_else(|_| Sse::default().comment("unencodable event"));
                return Some((Ok(sse), self));
            }
            match self.state.ledger.events_after(self.cursor, 200).await {
                Ok(batch) if !batch.is_empty() => {
                    self.cursor = batch.last().map_or(self.cursor, |e| e.seq);
                    self.ready.extend(batch.into_iter().map(wire::event).filter(|e| self.filter.matches(e)));
                    continue;
                }
                // Caught up, or the database is briefly unavailable: wait
                // for the head to move (or the server to stop).
                _ => {}
            }
            self.feed.mark_unchanged();
            tokio::select! {
                changed = self.feed.changed() => if changed.is_err() { return None },
                _ = self.stop.wait_for(|s| *s) => return None,
                _ = tokio::time::sleep(POLL * 5) => {}
            }
        }
    }
}

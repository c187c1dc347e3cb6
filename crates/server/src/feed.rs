//! The server's memory of the newest events, shared by every stream.
//!
//! One task reads what is new in the audit log (`events::watch_head`) and
//! appends it here, encoded once; each SSE stream then takes its next events
//! from memory instead of asking the database itself. A hundred subscribers
//! thus cost one read per step of the log, not a hundred, and each event is
//! turned into JSON once, not once per subscriber.
//!
//! What is kept is a window of the log: every event after `base`, in order
//! and without gaps (the audit log is a hash chain, so its numbers are
//! consecutive and committed in order). A stream whose place is before the
//! window (it fell far behind, or resumed from an old `Last-Event-ID`) is
//! told so and reads from the database until it reaches the window.
//!
//! Each event's SSE message is encoded here once, too, and a stream sends
//! every event it has ready as one chunk: with a hundred subscribers and
//! thousands of events a second, one write per event per subscriber (what
//! `axum`'s `Sse` does, an `Event` a frame) was most of the server's work
//! and of its subscribers' wake-ups.

use axum::body::Bytes;
use haul_api::records::Event;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// How many of the newest events are kept.
pub(crate) const KEPT: usize = 4096;

/// One event as every stream sends it: its SSE message encoded once, with
/// and without its kind as the event's name, so a stream only copies bytes.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) event: Event,
    /// `id:` and `data:` (the event as JSON).
    pub(crate) message: Bytes,
    /// `id:`, `event:` (its kind) and `data:`.
    pub(crate) named: Bytes,
}

impl Shared {
    pub(crate) fn new(event: Event) -> Arc<Shared> {
        // An `Event` is plain data (numbers, strings, a JSON value): it
        // always encodes, and compact JSON has no line break in it.
        let json = serde_json::to_string(&event).unwrap_or_else(|_| "null".into());
        let id = event.seq.to_string();
        let message = sse(&[("id", &id), ("data", &json)]);
        // A kind that could end its line is not sent as a name: the data
        // carries it anyway.
        let named = if event.kind.contains(['\r', '\n']) {
            message.clone()
        } else {
            sse(&[("id", &id), ("event", &event.kind), ("data", &json)])
        };
        Arc::new(Shared { event, message, named })
    }
}

/// One Server-Sent-Events message of `fields`, none of whose values holds a
/// line break: `name: value` lines and the blank line that ends it.
fn sse(fields: &[(&str, &str)]) -> Bytes {
    let mut out = String::with_capacity(fields.iter().map(|(n, v)| n.len() + v.len() + 3).sum::<usize>() + 1);
    for (name, value) in fields {
        debug_assert!(!value.contains(['\r', '\n']), "{name} has a line break");
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[derive(Debug)]
pub(crate) struct Feed {
    /// The newest event's number as last read, for anything that only
    /// needs to wake when the log moves (webhook delivery).
    head: watch::Sender<i64>,
    window: RwLock<Window>,
    kept: usize,
}

#[derive(Debug, Default)]
struct Window {
    /// Every event after `base` is in `events`, oldest first; `None` until
    /// the head is first read, when nothing is known to be kept.
    base: Option<i64>,
    events: VecDeque<Arc<Shared>>,
}

impl Window {
    fn head(&self) -> Option<i64> {
        self.base.map(|b| b + self.events.len() as i64)
    }
}

impl Default for Feed {
    fn default() -> Feed {
        Feed::with_kept(KEPT)
    }
}

impl Feed {
    pub(crate) fn with_kept(kept: usize) -> Feed {
        Feed { head: watch::channel(0).0, window: RwLock::default(), kept: kept.max(1) }
    }

    /// Wakes whenever the head moves.
    pub(crate) fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// The newest event's number known here, once the head was read.
    pub(crate) fn head(&self) -> Option<i64> {
        self.read().head()
    }

    /// Up to `limit` events after `cursor`, oldest first: empty when the
    /// cursor is at or past the head; `None` when the cursor is before what
    /// is kept, and the database must be asked.
    pub(crate) fn after(&self, cursor: i64, limit: usize) -> Option<Vec<Arc<Shared>>> {
        let w = self.read();
        let base = w.base.filter(|b| cursor >= *b)?;
        let skip = usize::try_from(cursor - base).unwrap_or(usize::MAX);
        Some(w.events.iter().skip(skip).take(limit).cloned().collect())
    }

    /// Starts the window at `seq` with nothing kept: used when the feed
    /// first learns the head, so history is read from the database.
    pub(crate) fn start_at(&self, seq: i64) {
        let mut w = self.write();
        w.base = Some(seq);
        w.events.clear();
        drop(w);
        self.announce(seq);
    }

    /// Appends events read from the log after the head (nothing before
    /// `start_at`). Events at or
    /// before the head are already kept and are skipped; an event past the
    /// next number means the log was read with a gap, and the window starts
    /// again after it, since a stream must never be handed a log with a
    /// hole in it.
    pub(crate) fn extend(&self, batch: impl IntoIterator<Item = Event>) {
        let mut w = self.write();
        let Some(mut base) = w.base else { return };
        for e in batch {
            let next = base + w.events.len() as i64 + 1;
            if e.seq < next {
                continue;
            }
            if e.seq > next {
                w.events.clear();
                base = e.seq - 1;
            }
            w.events.push_back(Shared::new(e));
            if w.events.len() > self.kept {
                w.events.pop_front();
                base += 1;
            }
        }
        w.base = Some(base);
        let head = base + w.events.len() as i64;
        drop(w);
        self.announce(head);
    }

    fn announce(&self, seq: i64) {
        self.head.send_if_modified(|have| {
            let newer = seq > *have;
            *have = seq.max(*have);
            newer
        });
    }

    // A writer panicking midway leaves the window whole (every change is
    // one push or pop), so a poisoned lock is taken as it is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Window> {
        self.window.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Window> {
        self.window.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> Event {
        Event {
            seq,
            at: String::new(),
            actor: "t".into(),
            kind: "k".into(),
            subject: String::new(),
            data: serde_json::json!({ "n": seq }),
        }
    }

    fn seqs(v: Option<Vec<Arc<Shared>>>) -> Option<Vec<i64>> {
        v.map(|v| v.iter().map(|s| s.event.seq).collect())
    }

    #[test]
    fn a_cursor_inside_the_window_gets_what_follows_it_in_order() {
        let f = Feed::with_kept(10);
        f.start_at(5);
        f.extend((6..=9).map(event));
        assert_eq!(seqs(f.after(5, 100)), Some(vec![6, 7, 8, 9]));
        assert_eq!(seqs(f.after(7, 1)), Some(vec![8]));
        assert_eq!(seqs(f.after(9, 100)), Some(vec![]));
        assert_eq!(seqs(f.after(40, 100)), Some(vec![]), "a cursor past the head waits");
        assert_eq!(seqs(f.after(4, 100)), None, "before the window: ask the database");
        assert_eq!(f.head(), Some(9));
        assert_eq!(*f.subscribe().borrow(), 9);
    }

    #[test]
    fn the_window_keeps_only_the_newest_and_a_stream_behind_it_is_sent_to_the_database() {
        let f = Feed::with_kept(3);
        f.start_at(0);
        f.extend((1..=10).map(event));
        assert_eq!(seqs(f.after(7, 100)), Some(vec![8, 9, 10]));
        assert_eq!(seqs(f.after(6, 100)), None);
    }

    #[test]
    fn before_the_head_is_first_read_every_stream_asks_the_database() {
        let f = Feed::with_kept(10);
        assert_eq!(seqs(f.after(0, 100)), None, "history from the start is in the database");
        f.extend([event(1)]);
        assert_eq!(seqs(f.after(0, 100)), None, "nothing is kept before the start");
        assert_eq!(f.head(), None);
    }

    #[test]
    fn events_read_twice_are_not_kept_twice() {
        let f = Feed::with_kept(10);
        f.start_at(0);
        f.extend((1..=3).map(event));
        f.extend((2..=4).map(event));
        assert_eq!(seqs(f.after(0, 100)), Some(vec![1, 2, 3, 4]));
    }

    #[test]
    fn a_gap_in_what_was_read_never_reaches_a_stream_as_a_hole() {
        let f = Feed::with_kept(10);
        f.start_at(0);
        f.extend([1, 2, 5, 6].map(event));
        assert_eq!(seqs(f.after(2, 100)), None, "3 and 4 must come from the database");
        assert_eq!(seqs(f.after(4, 100)), Some(vec![5, 6]));
    }

    #[test]
    fn each_event_is_encoded_once_as_the_stream_sends_it() {
        let f = Feed::with_kept(10);
        f.start_at(0);
        f.extend([event(1)]);
        let a = f.after(0, 1).unwrap();
        let b = f.after(0, 1).unwrap();
        assert!(Arc::ptr_eq(&a[0], &b[0]), "two streams share one encoding");
        let message = std::str::from_utf8(&a[0].message).unwrap();
        let (id, data) = message.strip_suffix("\n\n").unwrap().split_once('\n').unwrap();
        assert_eq!(id, "id: 1");
        let back: Event = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(back.seq, 1);
        assert_eq!(back.data["n"], 1);
        let named = std::str::from_utf8(&a[0].named).unwrap();
        assert_eq!(named, format!("id: 1\nevent: {}\n{data}\n\n", back.kind));
    }

    /// A kind that holds a line break (only a hostile database could write
    /// one) would end its line early and forge a field: it is not sent as
    /// the event's name, and the message stays one message.
    #[test]
    fn a_kind_with_a_line_break_does_not_forge_a_field() {
        let mut e = event(7);
        e.kind = "deploy.started\ndata: forged".into();
        let shared = Shared::new(e);
        let named = std::str::from_utf8(&shared.named).unwrap();
        assert_eq!(named.matches("\n\n").count(), 1, "{named}");
        assert_eq!(named.lines().filter(|l| l.starts_with("data: ")).count(), 1, "{named}");
        assert!(!named.contains("event:"), "{named}");
    }
}

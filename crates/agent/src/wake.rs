//! Woken by `haul server`: with `HAUL_LEDGER` and `HAUL_TOKEN` set, a
//! looping agent holds one subscription (`GET /api/v1/agents/wake`, Server-
//! Sent Events) for all its apps, and starts a round as soon as the server
//! says a blessing newer than the one it knows exists, instead of at its
//! next poll. The poll interval keeps running beside it as the safety net,
//! so at rest the agent still makes one request per app and interval, and a
//! server that is away, refuses the token or goes silent only makes the
//! agent wait for its interval: the subscription is retried with a
//! jittered, capped backoff and the agent never stops because of it.
//!
//! The event is only a hint. The round reads the signed blessing from the
//! store and judges it with `haul_bless::verify` exactly as a polled one, so
//! a lying or compromised server can wake an agent, never make it accept
//! anything. The stream is read line by line here (the few lines of SSE an
//! event needs), with every line bounded.

use crate::run::Agent;
use haul_api::wake::{WAKE_EVENT, Wake};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The first wait before subscribing again.
const FIRST: Duration = Duration::from_secs(1);

/// The longest wait before subscribing again.
const MAX: Duration = Duration::from_secs(60);

/// A subscription that lasted this long was a good one: the backoff starts
/// over after it.
const GOOD: Duration = Duration::from_secs(10);

/// Silence longer than this (the server sends a comment every 15 s) means
/// the connection is dead.
const SILENCE: Duration = Duration::from_secs(45);

/// The longest line read from the stream.
const MAX_LINE: usize = 64 * 1024;

/// Follows the server's wake-ups for the agent's apps, telling `wake` when
/// one of them has a blessing above what `known` holds for it (the same
/// order as `config.apps`). Never returns; does nothing (but wait) without
/// a server and a token.
pub(crate) async fn follow(agent: &Agent, known: &[AtomicU64], wake: &Notify) {
    let cfg = &agent.config;
    let (Some(base), Some(token)) = (cfg.ledger.as_deref(), cfg.token.as_deref()) else {
        if cfg.ledger.is_some() {
            agent.warn("HAUL_LEDGER is set without HAUL_TOKEN: not subscribing to wake-ups, polling only");
        }
        return std::future::pending().await;
    };
    let base = base.trim_end_matches('/');
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            agent.warn(&format!("wake-ups from {base}: {e}; polling only"));
            return std::future::pending().await;
        }
    };
    let mut backoff = FIRST;
    // Whether the last thing said was that the subscription is up.
    let mut said_up: Option<bool> = None;
    loop {
        let started = Instant::now();
        let mut opened = false;
        let ended = session(agent, &client, base, token, known, wake, &mut opened, &mut said_up).await;
        if opened && started.elapsed() >= GOOD {
            backoff = FIRST;
        }
        if said_up != Some(false) {
            agent.warn(&format!(
                "wake-ups from {base}: {ended}; polling every {:?} meanwhile and subscribing again",
                cfg.interval
            ));
            said_up = Some(false);
        }
        tokio::time::sleep(spread(backoff, &cfg.host)).await;
        backoff = (backoff * 2).min(MAX);
    }
}

/// The HTTP client: TLS through rustls over ring, a bounded connect and a
/// bound on silence.
fn client() -> Result<reqwest::Client, String> {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    // Another part of the process may have installed one first; either will do.
    PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(SILENCE)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// One subscription, until it fails or ends; says why.
#[allow(clippy::too_many_arguments)]
async fn session(
    agent: &Agent,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    known: &[AtomicU64],
    wake: &Notify,
    opened: &mut bool,
    said_up: &mut Option<bool>,
) -> String {
    let cfg = &agent.config;
    // One `after` for all apps: the lowest, so none is missed (an app
    // already past it is announced once, and ignored below).
    let after = known.iter().map(|k| k.load(Ordering::SeqCst)).min().unwrap_or(0);
    let url = format!("{base}/api/v1/agents/wake");
    let query = [("app", cfg.apps.join(",")), ("env", cfg.env.clone()), ("after", after.to_string())];
    let url = match reqwest::Url::parse_with_params(&url, &query) {
        Ok(u) => u,
        Err(e) => return format!("{url} is not a URL: {e}"),
    };
    let mut res = match client.get(url).bearer_auth(token).send().await {
        Ok(r) => r,
        Err(e) => return format!("cannot subscribe: {}", chain(&e)),
    };
    if !res.status().is_success() {
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| body.chars().take(200).collect());
        return format!("the subscription was refused (HTTP {}): {message}", status.as_u16());
    }
    *opened = true;
    if *said_up != Some(true) {
        agent.warn(&format!("woken by {base} when a blessing is new (and polling every {:?})", cfg.interval));
        *said_up = Some(true);
    }
    let mut lines = Lines::default();
    loop {
        let chunk = match res.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return "the server ended the subscription".into(),
            Err(e) => return format!("the subscription broke off: {}", chain(&e)),
        };
        let events = match lines.push(&chunk) {
            Ok(events) => events,
            Err(e) => return e,
        };
        for data in events {
            let Ok(w) = serde_json::from_str::<Wake>(&data) else { continue };
            if w.env != cfg.env {
                continue;
            }
            let Some(i) = cfg.apps.iter().position(|a| *a == w.app) else { continue };
            if w.version > known[i].load(Ordering::SeqCst) {
                wake.notify_one();
            }
        }
    }
}

/// The SSE lines read so far: bytes up to the next newline, and the event
/// being assembled.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl Lines {
    /// Takes a chunk; returns the data of every complete wake-up event in it.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for &b in chunk {
            if b != b'\n' {
                if self.partial.len() >= MAX_LINE {
                    return Err(format!("the server sent a line longer than {MAX_LINE} bytes"));
                }
                self.partial.push(b);
                continue;
            }
            let line = std::mem::take(&mut self.partial);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            let line = String::from_utf8_lossy(line);
            if line.is_empty() {
                let (event, data) = (self.event.take(), self.data.take());
                if event.as_deref() == Some(WAKE_EVENT)
                    && let Some(d) = data
                {
                    out.push(d);
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_string()),
                "data" => self.data = Some(value.to_string()),
                _ => {} // comments (keep-alives), ids, retries
            }
        }
        Ok(out)
    }
}

/// An error with its causes ("connection refused" sits a few levels down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Between half of `d` and all of it, from a hash of the host and the time,
/// so a fleet whose server came back does not subscribe again all at once.
fn spread(d: Duration, host: &str) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(host.as_bytes());
    h.update(&now.as_nanos().to_le_bytes());
    let b = h.finalize();
    let r = u16::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1]]) as f64 / f64::from(u16::MAX);
    d.mul_f64(0.5 + 0.5 * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunks_and_only_wake_ups_count() {
        let mut l = Lines::default();
        let text = ": keep-alive\n\nevent: blessing\ndata: {\"a\":1}\n\nevent: other\ndata: x\n\nevent:blessing\r\ndata:{\"b\":2}\r\n\r\n";
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(3) {
            out.extend(l.push(chunk).unwrap());
        }
        assert_eq!(out, vec!["{\"a\":1}".to_string(), "{\"b\":2}".to_string()]);
        // An event without its blank line is not complete yet.
        assert!(l.push(b"event: blessing\ndata: {}\n").unwrap().is_empty());
        assert_eq!(l.push(b"\n").unwrap(), vec!["{}".to_string()]);
    }

    #[test]
    fn a_line_without_end_is_refused_at_its_bound() {
        let mut l = Lines::default();
        let big = vec![b'x'; MAX_LINE];
        assert!(l.push(&big).is_ok());
        let e = l.push(b"y").unwrap_err();
        assert!(e.contains("longer than"), "{e}");
    }

    #[test]
    fn the_backoff_is_spread_between_half_and_all() {
        for n in 0..200 {
            let d = spread(Duration::from_secs(8), &format!("h{n}"));
            assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(8), "{d:?}");
        }
    }
}

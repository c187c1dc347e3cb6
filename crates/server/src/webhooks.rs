//! Webhooks: every ledger event, POSTed to the URLs `haul.toml` names,
//! signed the Standard Webhooks way, from the outbox in the database.
//!
//! One task per server does the work. It polls the database (and wakes
//! early when the event feed sees a new event), so events written by other
//! replicas or by a CLI writing to the database directly are sent too:
//!
//! 1. for each webhook, the events after its cursor that it wants (kind
//!    pattern, and environment for filtered ones; an event of no
//!    environment goes only to webhooks without an environment filter) are
//!    enqueued, and the cursor moved, in one transaction;
//! 2. due deliveries are claimed under a lease (see the ledger's outbox:
//!    two replicas never both hold one) and sent at once, each in its own
//!    task; 2xx is delivered, anything else is retried after the webhook's
//!    backoff, doubled each time up to an hour, until `attempts` tries
//!    failed.
//!
//! Deliveries are at least once and not ordered: a receiver deduplicates
//! by `webhook-id` (`msg_<event seq>`, the same for every try of one
//! event). On shutdown the task stops sending and gives its leases back.
//!
//! `https://` receivers are reached over TLS (rustls), trusting the
//! system's roots, or the ones `SSL_CERT_FILE` / `SSL_CERT_DIR` name.

use crate::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use haul_config::{Config, Webhook};
use haul_ledger::{Delivery, Event, NewAttempt, Outcome};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the database is polled when nothing wakes the task earlier.
const POLL: Duration = Duration::from_millis(500);
/// Events read per webhook per round.
const BATCH: i64 = 500;
/// Deliveries in flight at once, over all webhooks.
const IN_FLIGHT: usize = 32;

/// A webhook with its secret key.
struct Hook {
    config: Webhook,
    key: Vec<u8>,
}

/// Checks that every webhook's secret is set and well-formed and that its
/// URL can be delivered to; the message names the webhook and variable.
pub fn check_webhooks(config: &Config) -> Result<(), String> {
    let hooks = load(config, |v| std::env::var(v).ok())?;
    if !hooks.is_empty() {
        // The client the worker will use: TLS roots that cannot be loaded
        // (a bad SSL_CERT_FILE, say) are reported now, not found later.
        http_client().build().map_err(|e| format!("webhooks: cannot set up the HTTP client: {}", error_chain(&e)))?;
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn load(config: &Config, var: impl Fn(&str) -> Option<String>) -> Result<Vec<Hook>, String> {
    config
        .webhooks()
        .into_iter()
        .map(|w| {
            let value = var(&w.secret_env).ok_or_else(|| {
                format!(
                    "webhook `{}`: the environment variable `{}` holding its secret is not set",
                    w.name, w.secret_env
                )
            })?;
            let key = secret_key(&value).ok_or_else(|| {
                format!(
                    "webhook `{}`: `{}` must hold `whsec_` followed by base64 (the secret's bytes)",
                    w.name, w.secret_env
                )
            })?;
            Ok(Hook { config: w, key })
        })
        .collect()
}

/// The key bytes of a `whsec_<base64>` secret.
fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = B64.decode(secret.trim().strip_prefix("whsec_")?).ok()?;
    (!key.is_empty()).then_some(key)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The body sent for `e`.
fn payload(e: &Event) -> Value {
    let mut data = match &e.data {
        Value::Object(o) => o.clone(),
        Value::Null => Default::default(),
        other => [("value".to_string(), other.clone())].into_iter().collect(),
    };
    data.insert("seq".into(), json!(e.seq));
    data.insert("actor".into(), json!(e.actor));
    json!({ "type": e.kind, "timestamp": haul_ledger::time::text(e.at), "data": data })
}

/// Enqueues and delivers until `stop` turns true, then gives its leases
/// back. Does nothing without webhooks.
pub(crate) async fn run(state: State, mut stop: watch::Receiver<bool>) {
    let hooks = match load(&state.config, |v| std::env::var(v).ok()) {
        Ok(h) if !h.is_empty() => h.into_iter().map(Arc::new).collect::<Vec<_>>(),
        // Without webhooks there is nothing to do; with a bad secret the CLI
        // refused to start already (`check_webhooks`).
        _ => return,
    };
    let owner = format!("{}-{}", std::process::id(), haul_ledger::time::text(haul_ledger::now()));
    let Ok(client) = http_client().build() else { return };
    let mut feed = state.feed.subscribe();
    let mut in_flight = JoinSet::new();
    while !*stop.borrow() {
        while in_flight.try_join_next().is_some() {}
        // A database error is tried again on the next round.
        let _ = round(&state, &hooks, &owner, &client, &mut in_flight).await;
        tokio::select! {
            _ = stop.changed() => {}
            _ = feed.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
            // A finished delivery may have left room for more.
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
    let _ = state.ledger.release_leases(&owner).await;
}

async fn round(
    state: &State,
    hooks: &[Arc<Hook>],
    owner: &str,
    client: &reqwest::Client,
    in_flight: &mut JoinSet<()>,
) -> Result<(), haul_ledger::LedgerError> {
    for hook in hooks {
        enqueue(state, &hook.config).await?;
    }
    for hook in hooks {
        let room = IN_FLIGHT.saturating_sub(in_flight.len());
        if room == 0 {
            break;
        }
        // Longer than a try may take, so a lease never runs out mid-try.
        let lease = hook.config.timeout * 2 + Duration::from_secs(30);
        for d in state.ledger.claim_deliveries(&hook.config.name, owner, lease, room as i64).await? {
            in_flight.spawn(deliver(state.clone(), hook.clone(), d, owner.to_string(), client.clone()));
        }
    }
    Ok(())
}

/// Enqueues what `hook` wants of the events after its cursor.
async fn enqueue(state: &State, hook: &Webhook) -> Result<(), haul_ledger::LedgerError> {
    loop {
        let from = state.ledger.webhook_cursor(&hook.name).await?;
        let events = state.ledger.events_after(from, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(()) };
        let wanted: Vec<(i64, &str)> = events
            .iter()
            .filter(|e| hook.wants(&e.kind, e.data.get("env").and_then(Value::as_str)))
            .map(|e| (e.seq, e.kind.as_str()))
            .collect();
        state.ledger.enqueue_deliveries(&hook.name, &wanted, last).await?;
        if (events.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

/// One try at `d`, logged; then delivered, retried later or failed.
async fn deliver(state: State, hook: Arc<Hook>, d: Delivery, owner: String, client: reqwest::Client) {
    let at = haul_ledger::now();
    let started = Instant::now();
    let (status, error) = match state.ledger.event(d.event).await {
        Ok(Some(event)) => send(&hook, &client, &event).await,
        Ok(None) => (None, Some(format!("event {} is not in the ledger", d.event))),
        Err(_) => return, // the lease runs out and the delivery is tried again
    };
    let tries = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
    let outcome = match &error {
        None => Outcome::Delivered,
        Some(_) if tries >= hook.config.attempts => Outcome::Failed,
        Some(_) => Outcome::Retry(hook.config.retry_after(tries)),
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let attempt = NewAttempt { at, status, error, duration_ms };
    let _ = state.ledger.finish_delivery(d.id, &owner, &attempt, outcome).await;
}

/// POSTs `event` to the hook: the HTTP status, and an error unless 2xx.
async fn send(hook: &Hook, client: &reqwest::Client, event: &Event) -> (Option<i64>, Option<String>) {
    let body = payload(event).to_string();
    let id = format!("msg_{}", event.seq);
    let timestamp = jiff::Timestamp::now().as_second();
    let signature = sign(&hook.key, &id, timestamp, &body);
    let sent = client
        .post(&hook.config.url)
        .timeout(hook.config.timeout)
        .header("content-type", "application/json")
        .header("user-agent", concat!("haul-webhooks/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(res) if res.status().is_success() => (Some(res.status().as_u16().into()), None),
        Ok(res) => (Some(res.status().as_u16().into()), Some(format!("HTTP {}", res.status()))),
        Err(e) if e.is_timeout() => (None, Some(format!("no answer within {:?}", hook.config.timeout))),
        Err(e) => {
            // reqwest's own message is generic; the cause is in the chain.
            // The URL is left out: its path and query may hold secrets.
            let e = e.without_url();
            let mut why = format!("POST {}: {e}", redact_url(&hook.config.url));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            (None, Some(why))
        }
    }
}

/// A webhook URL as it may be shown: scheme, host and port only (its
/// credentials, path and query may be secrets).
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            (Some(host), None) => format!("{}://{host}", u.scheme()),
            _ => format!("{}:", u.scheme()),
        },
        Err(_) => "(not a URL)".into(),
    }
}

/// A client builder for HTTP and HTTPS: TLS by rustls over ring, trusting
/// the system's roots (and `SSL_CERT_FILE` / `SSL_CERT_DIR`).
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    // Another part of the process may have installed one first; either will do.
    PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_shown_without_credentials_path_or_query() {
        assert_eq!(redact_url("https://user:pw@hooks.example/T0/B1/secret?token=x#f"), "https://hooks.example:443");
        assert_eq!(redact_url("http://127.0.0.1:9000/x"), "http://127.0.0.1:9000");
        assert_eq!(redact_url("http://[::1]:81/"), "http://[::1]:81");
        assert_eq!(redact_url("not a url"), "(not a URL)");
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_base64() {
        assert_eq!(secret_key("whsec_AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(secret_key("AAEC"), None);
        assert_eq!(secret_key("whsec_not base64!"), None);
        assert_eq!(secret_key("whsec_"), None);
    }

    #[test]
    fn payloads_carry_the_event_with_seq_and_actor() {
        let e = Event {
            seq: 7,
            at: "2026-01-01T00:00:00.000000Z".parse().unwrap(),
            actor: "ci".into(),
            kind: "deployment.started".into(),
            subject: "3".into(),
            data: json!({ "app": "web", "env": "prod" }),
        };
        assert_eq!(
            payload(&e),
            json!({ "type": "deployment.started", "timestamp": "2026-01-01T00:00:00.000000Z",
                    "data": { "app": "web", "env": "prod", "seq": 7, "actor": "ci" } })
        );
    }

    #[test]
    fn startup_refuses_missing_or_malformed_secrets() {
        let text = "[webhooks.chat]\nurl = \"http://x/\"\nsecret_env = \"CHAT\"\n";
        let c = Config::parse(std::path::Path::new("haul.toml"), text).unwrap();
        let err = |v: Option<&str>| load(&c, |_| v.map(str::to_string)).err();
        assert_eq!(
            err(None).as_deref(),
            Some("webhook `chat`: the environment variable `CHAT` holding its secret is not set")
        );
        assert_eq!(
            err(Some("hunter2")).as_deref(),
            Some("webhook `chat`: `CHAT` must hold `whsec_` followed by base64 (the secret's bytes)")
        );
        assert_eq!(err(Some("whsec_AAEC")), None);
    }
}

//! Webhooks in `haul.toml`: `[webhooks.<name>]` for every environment and
//! `[environments.<env>.webhooks.<name>]` for one, resolved into one list
//! with stable unique names so the server's outbox can key deliveries by
//! them.
//!
//! The file names only the environment variable that holds a webhook's
//! secret, never the secret itself; `haul server` reads and checks it when
//! it starts.

use crate::Duration;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// Every event kind the ledger emits, in the order they are documented.
pub const EVENT_KINDS: &[&str] = &[
    "release.registered",
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.switched_back",
    "deployment.undone",
    "deployment.forced",
    "host.result",
    "verification.reported",
    "approval.recorded",
    "quarantine.added",
    "content.synced",
    "content.failed",
];

/// The longest wait between two attempts, however many failed before.
pub const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(3600);

/// One webhook as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are POSTed (`http://…`).
    pub url: Spanned<String>,
    /// The environment variable holding the secret (`whsec_<base64>`).
    pub secret_env: Spanned<String>,
    /// Event kinds, prefixes like `deployment.*`, or `*` (default: all).
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    /// Top-level webhooks only: the environments whose events are sent
    /// (default: all, and events of no environment too).
    pub environments: Option<Spanned<Vec<Spanned<String>>>>,
    /// Tries per event before it is marked failed.
    pub attempts: Option<Spanned<u32>>,
    /// The wait before the first retry; doubled for each one after, up to
    /// an hour.
    #[serde(default = "default_backoff")]
    pub backoff: Duration,
    /// How long one delivery may take.
    pub timeout: Option<Spanned<Duration>>,
}

fn default_backoff() -> Duration {
    Duration::secs(5)
}

/// A webhook ready for the server: resolved name, filters and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `<name>` for a top-level webhook, `<env>.<name>` for one of an
    /// environment; unique, and what the ledger keys deliveries by.
    pub name: String,
    pub url: String,
    pub secret_env: String,
    /// Patterns: exact kinds, `prefix.*`, or `*`.
    pub events: Vec<String>,
    /// Only events of these environments (`None`: every event).
    pub environments: Option<Vec<String>>,
    pub attempts: u32,
    pub backoff: std::time::Duration,
    pub timeout: std::time::Duration,
}

impl Webhook {
    /// Whether an event of `kind` in `env` (events like
    /// `release.registered` have none) goes to this webhook.
    pub fn wants(&self, kind: &str, env: Option<&str>) -> bool {
        let kind_ok = self.events.iter().any(|p| pattern_matches(p, kind));
        let env_ok = match (&self.environments, env) {
            (None, _) => true,
            (Some(envs), Some(e)) => envs.iter().any(|x| x == e),
            (Some(_), None) => false,
        };
        kind_ok && env_ok
    }

    /// The wait before retrying after `failed` attempts (1 for the first
    /// retry): `backoff`, doubled each time, capped at [`MAX_BACKOFF`].
    pub fn retry_after(&self, failed: u32) -> std::time::Duration {
        let factor = 1u32.checked_shl(failed.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.checked_mul(factor).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
    }
}

/// `*`, an exact kind, or `prefix.*`.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => kind.starts_with(prefix),
        _ => pattern == kind,
    }
}

impl crate::Config {
    /// Every webhook: top-level ones first, then each environment's, in
    /// name order.
    pub fn webhooks(&self) -> Vec<Webhook> {
        let resolve = |name: String, w: &WebhookConfig, env: Option<&str>| Webhook {
            name,
            url: w.url.get_ref().clone(),
            secret_env: w.secret_env.get_ref().clone(),
            events: match &w.events {
                Some(e) => e.get_ref().iter().map(|p| p.get_ref().clone()).collect(),
                None => vec!["*".into()],
            },
            environments: match env {
                Some(e) => Some(vec![e.to_string()]),
                None => w.environments.as_ref().map(|l| l.get_ref().iter().map(|e| e.get_ref().clone()).collect()),
            },
            attempts: w.attempts.as_ref().map_or(12, |a| *a.get_ref()),
            backoff: w.backoff.0,
            timeout: w.timeout.as_ref().map_or(std::time::Duration::from_secs(10), |t| t.get_ref().0),
        };
        let mut out: Vec<Webhook> =
            self.webhooks.iter().map(|(n, w)| resolve(n.get_ref().clone(), w.get_ref(), None)).collect();
        for (env, e) in &self.environments {
            for (n, w) in &e.webhooks {
                out.push(resolve(format!("{}.{}", env.get_ref(), n.get_ref()), w.get_ref(), Some(env.get_ref())));
            }
        }
        out
    }
}

type Fail = (Range<usize>, String);

/// Checks one webhook; `env` is the environment it belongs to, if any.
pub(crate) fn validate(
    c: &crate::Config,
    name: &Spanned<String>,
    w: &Spanned<WebhookConfig>,
    env: Option<&str>,
) -> Result<(), Fail> {
    let n = name.get_ref();
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !ok {
        return Err((
            name.span(),
            format!(
                "webhook name `{n}` may only use letters, digits, `-` and `_`, and must start with a letter or digit"
            ),
        ));
    }
    let hook = w.get_ref();
    let url = hook.url.get_ref();
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err((hook.url.span(), format!("webhook `{n}`: `url` must be an http:// or https:// URL with a host")));
    }
    let var = hook.secret_env.get_ref();
    let var_ok = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !var.starts_with("whsec_");
    if !var_ok {
        return Err((
            hook.secret_env.span(),
            format!(
                "webhook `{n}`: `secret_env` names the environment variable holding the secret (like `HOOK_SECRET`), not the secret"
            ),
        ));
    }
    if let Some(events) = &hook.events {
        if events.get_ref().is_empty() {
            return Err((events.span(), format!("webhook `{n}`: `events` is empty; leave it out to send every event")));
        }
        for p in events.get_ref() {
            let pat = p.get_ref();
            let known = pat == "*"
                || EVENT_KINDS.contains(&pat.as_str())
                || pat
                    .strip_suffix(".*")
                    .is_some_and(|prefix| EVENT_KINDS.iter().any(|k| k.split('.').next() == Some(prefix)));
            if !known {
                return Err((
                    p.span(),
                    format!(
                        "webhook `{n}`: unknown event `{pat}` (events: {}; or a prefix like `deployment.*`, or `*`)",
                        EVENT_KINDS.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(envs) = &hook.environments {
        if env.is_some() {
            return Err((
                envs.span(),
                format!("webhook `{n}` belongs to an environment; `environments` applies to top-level webhooks only"),
            ));
        }
        for e in envs.get_ref() {
            if !c.environments.contains_key(e.get_ref().as_str()) {
                return Err((e.span(), format!("webhook `{n}`: there is no environment `{}`", e.get_ref())));
            }
        }
    }
    if let Some(a) = &hook.attempts
        && *a.get_ref() == 0
    {
        return Err((a.span(), format!("webhook `{n}`: `attempts` must be at least 1")));
    }
    if let Some(t) = &hook.timeout
        && t.get_ref().0.is_zero()
    {
        return Err((t.span(), format!("webhook `{n}`: `timeout` must be more than 0s")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(events: &[&str], envs: Option<&[&str]>) -> Webhook {
        Webhook {
            name: "h".into(),
            url: "http://x".into(),
            secret_env: "S".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            environments: envs.map(|e| e.iter().map(|s| s.to_string()).collect()),
            attempts: 12,
            backoff: std::time::Duration::from_secs(5),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    #[test]
    fn patterns_match_kinds_prefixes_and_everything() {
        assert!(pattern_matches("*", "host.result"));
        assert!(pattern_matches("deployment.*", "deployment.failed"));
        assert!(!pattern_matches("deployment.*", "deploymentx.failed"));
        assert!(pattern_matches("host.result", "host.result"));
        assert!(!pattern_matches("host.result", "host.results"));
    }

    #[test]
    fn environment_filters_leave_out_events_without_an_environment() {
        let h = hook(&["*"], Some(&["prod"]));
        assert!(h.wants("deployment.started", Some("prod")));
        assert!(!h.wants("deployment.started", Some("staging")));
        assert!(!h.wants("release.registered", None));
        assert!(hook(&["release.*"], None).wants("release.registered", None));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let h = hook(&["*"], None);
        let secs: Vec<u64> = (1..=12).map(|n| h.retry_after(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(h.retry_after(200), MAX_BACKOFF);
    }
}

#[cfg(test)]
mod resolve_tests {
    #[test]
    fn webhooks_resolve_with_defaults_and_stable_names() {
        let text = r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
events = ["deployment.*"]
environments = ["prod"]

[environments.prod]
hosts = ["a"]

[environments.prod.webhooks.pager]
url = "http://pager.example/in"
secret_env = "PAGER_SECRET"
attempts = 3
backoff = "100ms"
timeout = "2s"

[hosts.a]
transport = "local"
root = "a"
"#;
        let c = crate::Config::parse(std::path::Path::new("haul.toml"), text).expect("valid");
        let hooks = c.webhooks();
        let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["chat", "prod.pager"]);
        assert_eq!(hooks[0].attempts, 12);
        assert_eq!(hooks[0].backoff, std::time::Duration::from_secs(5));
        assert_eq!(hooks[0].timeout, std::time::Duration::from_secs(10));
        assert_eq!(hooks[0].environments, Some(vec!["prod".to_string()]));
        assert_eq!(hooks[1].events, ["*"]);
        assert_eq!(hooks[1].environments, Some(vec!["prod".to_string()]));
        assert_eq!((hooks[1].attempts, hooks[1].backoff.as_millis()), (3, 100));
    }
}

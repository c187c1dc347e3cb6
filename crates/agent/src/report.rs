//! Where an agent's reports go: always to the store, which stays the
//! agents' shared truth (waves, `haul status` and `haul deploy` read it),
//! and, when `HAUL_LEDGER` names a `haul server` and a token is set, to
//! that server too (`POST /api/v1/agents/reports`), so the ledger and the
//! dashboard hear of the agent at once.
//!
//! The server is a courtesy, never a dependency: a post is bounded by a
//! short timeout, a failure is a warning, and after one the agent does not
//! try again for a while (a server that is down costs one timeout per
//! [`QUIET_AFTER_FAILURE`], not one per report). What it missed reaches it
//! anyway: the server takes in the store's reports on its own.
//!
//! Also here: the report's one conversion to and from its API shape
//! (`haul_api::agents::AgentReport`), and reading `HAUL_TOKEN_FILE`.

use haul_api::agents as api;
use haul_store::reports::{AgentPhase, AgentReport, StepReport};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a post may take, all in.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the agent leaves the server alone after a post failed.
pub const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The largest report body posted (the server's body limit is 64 KiB):
/// past it, the steps' output is dropped, then the oldest steps.
const MAX_BODY: usize = 60 * 1024;

/// A report as the API carries it, made plain (a step's coloured output
/// would otherwise be refused by the server's text rule).
pub fn to_api(r: &AgentReport) -> api::AgentReport {
    let r = &r.clone().plain();
    api::AgentReport {
        host: r.host.clone(),
        app: r.app.clone(),
        env: r.env.clone(),
        roles: r.roles.clone(),
        labels: r.labels.clone(),
        wave: r.wave.map(|w| u32::try_from(w).unwrap_or(u32::MAX)),
        blessing: r.blessing,
        release: r.release.clone(),
        live: r.live.clone(),
        phase: phase_to_api(r.phase),
        error: r.error.clone(),
        steps: r
            .steps
            .iter()
            .map(|s| api::AgentStep {
                phase: phase_to_api(s.phase),
                name: s.name.clone(),
                ok: s.ok,
                started: s.started.to_string(),
                millis: s.millis,
                output: s.output.clone(),
            })
            .collect(),
        at: r.at.to_string(),
        agent: r.agent.clone(),
    }
}

/// A report from its API shape; a time that is not one is refused, naming
/// the field.
pub fn from_api(r: api::AgentReport) -> Result<AgentReport, String> {
    let time = |field: &str, s: &str| -> Result<jiff::Timestamp, String> {
        s.parse().map_err(|e| format!("`{field}` is not an RFC 3339 time: {e}"))
    };
    let mut steps = Vec::with_capacity(r.steps.len());
    for (i, s) in r.steps.into_iter().enumerate() {
        steps.push(StepReport {
            phase: phase_from_api(s.phase),
            name: s.name,
            ok: s.ok,
            started: time(&format!("steps[{i}].started"), &s.started)?,
            millis: s.millis,
            output: s.output,
        });
    }
    Ok(AgentReport {
        host: r.host,
        app: r.app,
        env: r.env,
        roles: r.roles,
        labels: r.labels,
        wave: r.wave.map(|w| w as usize),
        blessing: r.blessing,
        release: r.release,
        live: r.live,
        phase: phase_from_api(r.phase),
        error: r.error,
        steps,
        at: time("at", &r.at)?,
        agent: r.agent,
    })
}

macro_rules! phases {
    ($($p:ident),+) => {
        /// The API's word for a phase.
        pub fn phase_to_api(p: AgentPhase) -> api::AgentPhase {
            match p { $(AgentPhase::$p => api::AgentPhase::$p),+ }
        }
        /// The store's word for a phase.
        pub fn phase_from_api(p: api::AgentPhase) -> AgentPhase {
            match p { $(api::AgentPhase::$p => AgentPhase::$p),+ }
        }
    };
}

phases!(Idle, Download, Unpack, PostSync, Migrate, Waiting, PreJump, Switch, PostJump, Health, Live, Failed, Refused);

/// The JSON body of `r`, within [`MAX_BODY`].
fn body(r: &AgentReport) -> Vec<u8> {
    let mut a = to_api(r);
    let mut bytes = serde_json::to_vec(&a).expect("a report serializes");
    if bytes.len() > MAX_BODY {
        a.steps.iter_mut().for_each(|s| s.output.clear());
        bytes = serde_json::to_vec(&a).expect("a report serializes");
    }
    while bytes.len() > MAX_BODY && !a.steps.is_empty() {
        a.steps.remove(0);
        bytes = serde_json::to_vec(&a).expect("a report serializes");
    }
    bytes
}

/// Posts reports to the `haul server` of `HAUL_LEDGER`.
pub(crate) struct Poster {
    /// The server's address, without a trailing `/`.
    pub(crate) base: String,
    url: String,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
    /// No post before this, after a failure.
    quiet_until: Mutex<Option<Instant>>,
}

impl Poster {
    /// A poster when `HAUL_LEDGER` and a token are both set; `Err` says
    /// why one that was asked for cannot be made.
    pub(crate) fn new(ledger: Option<&str>, token: Option<&str>) -> Result<Option<Poster>, String> {
        let (Some(base), Some(token)) = (ledger, token) else {
            return match ledger {
                Some(_) => Err(
                    "HAUL_LEDGER is set but no token is (HAUL_TOKEN or HAUL_TOKEN_FILE); reports go to the store only"
                        .into(),
                ),
                None => Ok(None),
            };
        };
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("HAUL_LEDGER: {base:?} is not an http:// or https:// URL"));
        }
        // The store, opened first, has installed the TLS provider.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(POST_TIMEOUT)
            .build()
            .map_err(|e| format!("HAUL_LEDGER: cannot make an HTTP client: {e}"))?;
        Ok(Some(Poster {
            base: base.to_string(),
            url: format!("{base}/api/v1/agents/reports"),
            token: token.trim().to_string(),
            http,
            quiet_until: Mutex::new(None),
        }))
    }

    /// Posts `r`; says why it did not reach the server, if it did not. A
    /// report refused for being older than the server's is not a failure
    /// (the store ingest got there first).
    pub(crate) async fn post(&self, r: &AgentReport) -> Result<(), String> {
        if self.quiet_until.lock().expect("not poisoned").is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        let res = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body(r))
            .send()
            .await;
        let failed = match res {
            Ok(res) if res.status().is_success() || res.status() == reqwest::StatusCode::CONFLICT => None,
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                let message = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(text);
                Some(format!("{status}: {}", message.chars().take(500).collect::<String>()))
            }
            Err(e) => Some(chain(&e)),
        };
        match failed {
            None => {
                *self.quiet_until.lock().expect("not poisoned") = None;
                Ok(())
            }
            Some(why) => {
                *self.quiet_until.lock().expect("not poisoned") = Some(Instant::now() + QUIET_AFTER_FAILURE);
                Err(format!(
                    "the report did not reach {}: {why} (it is in the store; not posted again for {}s)",
                    self.url,
                    QUIET_AFTER_FAILURE.as_secs()
                ))
            }
        }
    }
}

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

/// Writes `r` to the store and posts it to the server when there is one.
/// The store's answer is returned; the server's failure is only warned of.
pub(crate) async fn tell(agent: &crate::run::Agent, r: &AgentReport) -> Result<(), haul_store::StoreError> {
    let stored = haul_store::reports::write(&agent.store, r, agent.seal.as_ref()).await;
    if let Some(p) = &agent.poster
        && let Err(why) = p.post(r).await
    {
        agent.warn(&format!("{}: {why}", r.app));
    }
    stored
}

/// The token in `path` (`HAUL_TOKEN_FILE`): refused when the group or
/// others may read it, like a key file, or when it holds no token.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} may be read by others (mode {:o}); make it private: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    if meta.len() > 4096 {
        return Err(format!("{} is {} bytes; a token is one short line", path.display(), meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(format!("{} does not hold one token", path.display()));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn token_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_token_file(&p).unwrap_err().contains("may be read by others (mode 644)"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token_file(&p).unwrap(), "s3cret");
        std::fs::write(&p, "two words\n").unwrap();
        assert!(read_token_file(&p).unwrap_err().contains("does not hold one token"));
    }

    #[test]
    fn api_shape_round_trips() {
        let r = AgentReport {
            host: "h1".into(),
            app: "web".into(),
            env: "prod".into(),
            roles: vec!["app".into()],
            labels: [("zone".to_string(), "b".to_string())].into(),
            wave: Some(1),
            blessing: Some(7),
            release: Some("r".into()),
            live: Some("q".into()),
            phase: AgentPhase::PostJump,
            error: Some("e".into()),
            steps: vec![StepReport {
                phase: AgentPhase::Download,
                name: "download".into(),
                ok: true,
                started: "2026-01-01T00:00:00.123456789Z".parse().unwrap(),
                millis: 3,
                output: "out\nput".into(),
            }],
            at: "2026-01-01T00:00:01.5Z".parse().unwrap(),
            agent: "0.1.0".into(),
        };
        assert_eq!(from_api(to_api(&r)).unwrap(), r);
        let mut bad = to_api(&r);
        bad.steps[0].started = "yesterday".into();
        assert!(from_api(bad).unwrap_err().starts_with("`steps[0].started` is not an RFC 3339 time"));
    }

    #[test]
    fn huge_output_is_dropped_from_the_post() {
        let step = StepReport {
            phase: AgentPhase::Download,
            name: "x".into(),
            ok: true,
            started: jiff::Timestamp::now(),
            millis: 0,
            output: "y".repeat(2000),
        };
        let r = AgentReport {
            host: "h".into(),
            app: "a".into(),
            env: "e".into(),
            roles: vec![],
            labels: Default::default(),
            wave: None,
            blessing: None,
            release: None,
            live: None,
            phase: AgentPhase::Idle,
            error: None,
            steps: vec![step; 64],
            at: jiff::Timestamp::now(),
            agent: "0".into(),
        };
        let b = body(&r);
        assert!(b.len() <= MAX_BODY);
        let back: api::AgentReport = serde_json::from_slice(&b).unwrap();
        assert_eq!(back.steps.len(), 64, "the steps are kept, their output dropped");
    }
}

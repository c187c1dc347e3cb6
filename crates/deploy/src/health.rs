//! Health checks after a switch: a command on the host, or an HTTP GET from
//! here, each with a timeout and retries.
//!
//! A command's timeout is kept on the host: the command runs in its own
//! process group (`set -m`), and when its time is up the whole group is
//! killed, so a check that started children (a `curl` in a pipeline, a
//! server it forked) leaves nothing behind; ending only the `sh` here would
//! leave them running there.

use haul_config::HealthCheck;
use haul_host::{HostApp, HostError};
use std::time::Duration;

/// A health check that did not pass, with what its last attempt saw.
#[derive(Debug, thiserror::Error)]
#[error("health check `{label}` failed after {tries} attempt{}: {last}", if *tries == 1 { "" } else { "s" })]
pub struct HealthError {
    pub label: String,
    pub tries: u32,
    pub last: Attempt,
}

/// Why one attempt of a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum Attempt {
    #[error("timed out after {0}")]
    TimedOut(haul_config::Duration),
    #[error("exit {}{}", code.map_or("by signal".into(), |c| c.to_string()), if output.is_empty() { String::new() } else { format!(": {output}") })]
    Exit { code: Option<i32>, output: String },
    /// The host could not be reached; the message, not the host (the task's
    /// error names it).
    #[error("{}", .0.message)]
    Unreached(haul_transport::TransportError),
    #[error(transparent)]
    Host(HostError),
    #[error("cannot make an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("GET {url} answered {got}, expected {expected}")]
    Status { url: String, got: u16, expected: u16 },
    #[error("GET {url} timed out after {timeout}")]
    HttpTimedOut { url: String, timeout: haul_config::Duration },
    #[error("GET {url}: {}", error_chain(source))]
    Request { url: String, source: reqwest::Error },
}

/// Runs `check` against one host until it passes or its retries run out.
/// The error says what the last attempt saw.
pub(crate) async fn check_host(
    check: &HealthCheck,
    host: &HostApp,
    address: &str,
    env: &[(String, String)],
) -> Result<(), HealthError> {
    let mut last = None;
    for attempt in 0..=check.retries {
        if attempt > 0 {
            tokio::time::sleep(check.interval.0).await;
        }
        match once(check, host, address, env).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    let last = last.expect("at least one attempt ran");
    Err(HealthError { label: check.label(), tries: check.retries + 1, last })
}

async fn once(check: &HealthCheck, host: &HostApp, address: &str, env: &[(String, String)]) -> Result<(), Attempt> {
    let limit = check.timeout.0;
    if let Some(cmd) = &check.command {
        let cwd = format!("{}/current", host.dir());
        let script = in_group(cmd, limit);
        let run = host.run_step(&script, &cwd, env, None);
        // The host ends the check at `limit`; this bound only covers a host
        // that stops answering.
        return match tokio::time::timeout(limit + Duration::from_secs(5), run).await {
            Err(_) => Err(Attempt::TimedOut(check.timeout)),
            Ok(Err(HostError::Transport(t))) => Err(Attempt::Unreached(t)),
            Ok(Err(e)) => Err(Attempt::Host(e)),
            Ok(Ok(out)) if out.success() => Ok(()),
            Ok(Ok(out)) if out.code == Some(TIMED_OUT) => Err(Attempt::TimedOut(check.timeout)),
            Ok(Ok(out)) => Err(Attempt::Exit { code: out.code, output: out.combined() }),
        };
    }
    let url = check.http.as_deref().unwrap_or_default().replace("{host}", address);
    let client = http_client()
        .timeout(limit)
        .connect_timeout(limit.min(Duration::from_secs(5)))
        .build()
        .map_err(Attempt::Client)?;
    match client.get(&url).send().await {
        Ok(resp) if resp.status().as_u16() == check.status => Ok(()),
        Ok(resp) => Err(Attempt::Status { url, got: resp.status().as_u16(), expected: check.status }),
        Err(e) if e.is_timeout() => Err(Attempt::HttpTimedOut { url, timeout: check.timeout }),
        Err(source) => Err(Attempt::Request { url, source }),
    }
}

/// The exit status of a check whose process group was killed at its timeout.
const TIMED_OUT: i32 = 124;

/// `cmd` run in a session (and so a process group) of its own, killed as
/// a whole (TERM, then KILL a second later) once `limit` has passed; it
/// exits 124 then. Without `setsid` on the host, only the check's shell is
/// killed.
fn in_group(cmd: &str, limit: Duration) -> String {
    let ms = limit.as_millis().max(1);
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    let cmd = haul_host::quote(cmd);
    // The watchdog tells this shell (USR1) before it kills the group; a
    // `wait` cut short by the trap is waited again.
    let watchdog = haul_host::quote(&format!(
        "sleep {secs}; kill -s USR1 $1; kill -TERM -$0 2>/dev/null || kill -TERM $0; \
         sleep 1; kill -KILL -$0 2>/dev/null || kill -KILL $0"
    ));
    format!(
        "if command -v setsid >/dev/null 2>&1; then group=setsid; else group=; fi\n\
         timed_out=\n\
         trap 'timed_out=1' USR1\n\
         $group sh -c {cmd} &\n\
         check=$!\n\
         $group sh -c {watchdog} $check $$ >/dev/null 2>&1 &\n\
         watchdog=$!\n\
         while :; do wait $check; code=$?; kill -0 $check 2>/dev/null || break; done\n\
         kill -KILL -$watchdog 2>/dev/null || kill -KILL $watchdog 2>/dev/null\n\
         if [ -n \"$timed_out\" ]; then code={TIMED_OUT}; sleep 1; kill -KILL -$check 2>/dev/null; fi\n\
         exit $code\n"
    )
}

/// A client builder for HTTP and HTTPS: TLS by rustls over ring,
/// trusting the system's roots (and `SSL_CERT_FILE` / `SSL_CERT_DIR`).
pub fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    // Another part of the process may have installed one first; either will do.
    PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
    reqwest::Client::builder()
}

/// An error with its causes ("connection refused" sits a few levels down).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` with `sh`, returning its exit code and how long it took.
    fn run(script: &str) -> (Option<i32>, Duration) {
        let t = std::time::Instant::now();
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        (out.status.code(), t.elapsed())
    }

    #[test]
    fn health_check_timeout_kills_the_checks_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-ran");
        // The child outlives the check's shell unless its group is killed;
        // it holds the output pipe open, so the run would wait for it.
        let cmd = format!("(sleep 3; touch {}) & sleep 30 | cat", marker.display());
        let (code, took) = run(&in_group(&cmd, Duration::from_millis(500)));
        assert_eq!(code, Some(TIMED_OUT));
        assert!(took < Duration::from_secs(3), "the run ended at the timeout, not when children did: {took:?}");
        // A check that ignores TERM is killed a second later.
        let (code, took) = run(&in_group("trap '' TERM; sleep 10", Duration::from_millis(300)));
        assert_eq!(code, Some(TIMED_OUT));
        assert!(took < Duration::from_secs(4), "{took:?}");
        std::thread::sleep(Duration::from_secs(4));
        assert!(!marker.exists(), "a child of the timed-out check kept running");
    }

    #[test]
    fn a_check_that_finishes_keeps_its_exit_code() {
        assert_eq!(run(&in_group("exit 3", Duration::from_secs(5))).0, Some(3));
        let (code, took) = run(&in_group("echo 'it''s fine'", Duration::from_secs(5)));
        assert_eq!(code, Some(0));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}

//! Running what a blessing carries on this host: the push steps
//! (`post_upload`, `migrate`, `stop`/`start`/`refresh`), the release's
//! package scripts (FTL's five) and the health checks, each through
//! `HostApp::run_step` (the same `step.sh` push uses) with the same `HAUL_*`
//! variables a push deploy gives.
//!
//! Health checks have a small runner of their own: `haul-deploy`'s would
//! bring the whole push engine (config, plans, the HTTP client) into the
//! agent. A command check runs in `current` with a timeout; an `http` check
//! is a plain HTTP/1.1 GET of a `http://` URL on this host (`{host}` is
//! `127.0.0.1`), its status compared with the one expected.

use haul_bless::{HealthDoc, StepDoc};
use haul_host::{HostApp, HostError};
use haul_transport::Output;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A step that ran and failed, or could not run.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{name} failed (exit {}){}", code.map_or("by signal".into(), |c| c.to_string()), tail(output))]
    Exit { name: String, code: Option<i32>, output: String },
    #[error("{name}: {source}")]
    Host {
        name: String,
        #[source]
        source: HostError,
    },
    #[error("health check {name} failed after {tries} attempt(s): {last}")]
    Health { name: String, tries: u32, last: String },
}

fn tail(output: &str) -> String {
    let t = last_lines(output);
    if t.is_empty() { String::new() } else { format!(": {t}") }
}

/// The end of a step's output, bounded (what a report carries).
pub fn last_lines(output: &str) -> String {
    const MAX: usize = 2000;
    let t = output.trim();
    if t.len() <= MAX {
        return t.to_string();
    }
    let mut start = t.len() - MAX;
    while !t.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &t[start..])
}

/// Whether a step for `roles` runs on a host with `mine` (every host when
/// the step names none).
pub fn runs_here(step: &StepDoc, mine: &[String]) -> bool {
    step.roles.is_empty() || step.roles.iter().any(|r| mine.contains(r))
}

/// Runs `command` in `cwd`, returning its output; a non-zero exit is an error.
pub async fn run(
    app: &HostApp,
    name: &str,
    command: &str,
    cwd: &str,
    env: &[(String, String)],
) -> Result<Output, StepError> {
    let out = app
        .run_step(command, cwd, env, None)
        .await
        .map_err(|source| StepError::Host { name: name.to_string(), source })?;
    if out.success() {
        Ok(out)
    } else {
        Err(StepError::Exit { name: name.to_string(), code: out.code, output: out.combined() })
    }
}

/// Runs the package script `file` (a path inside the release) with `sh` in
/// `release_dir`, if the release has it. `Ok(None)` when it has not.
pub async fn script(
    app: &HostApp,
    name: &str,
    file: &str,
    release_dir: &str,
    env: &[(String, String)],
) -> Result<Option<Output>, StepError> {
    if file.is_empty() || file.starts_with('/') || file.split('/').any(|c| c == "..") {
        return Ok(None);
    }
    // The agent runs on the host: whether the release ships the script is
    // read here. The release's links were checked when it was packed or
    // imported, so none leads out of it.
    if !std::path::Path::new(release_dir).join(file).is_file() {
        return Ok(None);
    }
    let command = format!("exec sh {}", haul_host::quote(file));
    run(app, name, &command, release_dir, env).await.map(Some)
}

/// Runs one health check until it passes or its retries are spent.
pub async fn health(app: &HostApp, check: &HealthDoc, env: &[(String, String)]) -> Result<(), StepError> {
    let limit = Duration::from_millis(check.timeout_ms.max(1));
    let mut last = String::new();
    for attempt in 0..=check.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(check.interval_ms)).await;
        }
        let r = match (&check.command, &check.http) {
            (Some(cmd), _) => {
                let cwd = format!("{}/current", app.dir());
                match tokio::time::timeout(limit, run(app, &check.name, cmd, &cwd, env)).await {
                    Err(_) => Err(format!("timed out after {}ms", check.timeout_ms)),
                    Ok(r) => r.map(|_| ()).map_err(|e| e.to_string()),
                }
            }
            (None, Some(url)) => {
                let url = url.replace("{host}", "127.0.0.1");
                match tokio::time::timeout(limit, get_status(&url)).await {
                    Err(_) => Err(format!("GET {url} timed out after {}ms", check.timeout_ms)),
                    Ok(Ok(s)) if s == check.status => Ok(()),
                    Ok(Ok(s)) => Err(format!("GET {url} answered {s}, expected {}", check.status)),
                    Ok(Err(e)) => Err(format!("GET {url}: {e}")),
                }
            }
            (None, None) => Err("the check has neither a command nor a URL".into()),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(StepError::Health { name: check.name.clone(), tries: check.retries + 1, last })
}

/// The status of a GET of `url` (`http://host[:port]/path` only).
async fn get_status(url: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are checked by the agent (use a command check)")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let mut s = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: haul-agent\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_http_check_reads_the_status_line() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b).await;
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await.unwrap();
        });
        assert_eq!(get_status(&format!("http://127.0.0.1:{port}/health")).await.unwrap(), 503);
        assert!(get_status("https://127.0.0.1/").await.is_err());
    }
}

//! Push promotions and rollbacks asked for from the dashboard: a server
//! that reaches the hosts over SSH runs them as a person would from a
//! terminal, by running itself (`haul --config <its haul.toml> promote …`)
//! as a child, recorded under the person's name (`HAUL_ACTOR`). The CLI
//! is the one code that runs a push deploy and records it (the gate, the
//! locks, the barrier, the failure policy, the lease), so a deploy started
//! from a page cannot differ from one started in a terminal.
//!
//! The child outlives the request, and the server too: a deploy is never
//! cut short because a browser went away or the server restarted (the
//! lease it renews is what tells a dead run). The page waits a little for
//! the deployment to be recorded, to link it; a run refused before it
//! started is shown with what the CLI said, the server's paths left out.

use crate::{ApiError, State};
use axum::http::StatusCode;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// How long a page waits for the run to be recorded.
const WAIT: Duration = Duration::from_secs(15);
/// The lines of a failed run's output a page shows.
const TAIL: usize = 20;

/// Runs `haul <args>` for `actor` on `app` in `env`; the deployment it
/// recorded, once it has (`None`: not yet, it goes on).
pub(crate) async fn run(
    state: &State,
    actor: &str,
    app: &str,
    env: &str,
    args: &[String],
) -> Result<Option<i64>, ApiError> {
    let before = state.ledger.deployments(Some(app), Some(env), 1).await?.first().map_or(0, |d| d.id);
    let exe = std::env::current_exe().map_err(|e| ApiError::internal(&e))?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--config")
        .arg(&state.config.path)
        .args(args)
        .env("HAUL_ACTOR", actor)
        .env_remove("HAUL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::internal(&e))?;
    let stderr = child.stderr.take().expect("piped");
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let what = format!("{} for {actor}", args.join(" "));
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut tail = std::collections::VecDeque::new();
        while let Ok(Some(line)) = lines.next_line().await {
            crate::requests::log(&format!("{what}: {line}"));
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let status = child.wait().await;
        let ok = status.as_ref().is_ok_and(std::process::ExitStatus::success);
        let _ = done_tx.send((ok, tail.into_iter().collect::<Vec<_>>().join("\n")));
    });
    let started = Instant::now();
    loop {
        let newest = state.ledger.deployments(Some(app), Some(env), 1).await?;
        if let Some(d) = newest.first().filter(|d| d.id > before && d.actor == actor) {
            return Ok(Some(d.id));
        }
        match done_rx.try_recv() {
            Ok((true, _)) => return Ok(None),
            Ok((false, tail)) => {
                let dir = state.config.dir.display().to_string();
                let said = if dir.len() > 1 { tail.replace(&dir, "…") } else { tail };
                return Err(ApiError::new(StatusCode::CONFLICT, said));
            }
            Err(_) if started.elapsed() > WAIT => return Ok(None),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

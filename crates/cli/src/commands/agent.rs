//! `haul agent`: the pull agent, configured by `HAUL_*` variables (or a
//! file of them), one round with `--once` (cron) or rounds until SIGTERM /
//! ctrl-c, which stop it between steps with its locks released.

use crate::commands::Ctx;
use crate::error::{Failure, Result};
use haul_agent::{AgentConfig, AgentError, Mode};
use std::path::Path;

pub async fn agent(ctx: &Ctx, once: bool, file: Option<&Path>) -> Result<()> {
    let config = match file {
        Some(f) => AgentConfig::from_file(f),
        None => AgentConfig::from_env(|k| std::env::var(k).ok()),
    }
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    };
    let printer = ctx.printer.clone();
    let mode = if once { Mode::Once } else { Mode::Loop };
    let summary = haul_agent::run_with(config, mode, shutdown, move |m| printer.err(&format!("haul agent: {m}")))
        .await
        .map_err(|e| match e {
            AgentError::Trust(_) | AgentError::Threshold(_) => Failure::Usage(e.to_string()),
            other => Failure::Run(other.to_string()),
        })?;
    if once {
        for (app, outcome) in &summary.apps {
            ctx.printer.out(&format!("{app}: {}", haul_agent::describe(outcome)));
        }
    }
    if summary.ok() { Ok(()) } else { Err(Failure::Reported) }
}

//! The agent's loop: every app each round, rounds an interval apart (with
//! up to a tenth of jitter, so a fleet does not poll in step), until the
//! shutdown future completes; or one round (`--once`, for cron). A looping
//! agent given a `haul server` (`HAUL_LEDGER`, `HAUL_TOKEN`) also starts a
//! round when the server says a newer blessing exists (`wake.rs`); the
//! interval runs on beside it. Shutdown is noticed between steps: the step
//! running finishes, the lock is released, and the loop ends.

use crate::config::AgentConfig;
use crate::fetch::Memory;
use crate::sync::{Outcome, sync_app};
use haul_bless::{PublicKey, Trust};
use haul_store::Store;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// One round, or rounds until shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Once,
    Loop,
}

/// What the agent cannot start without.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HAUL_TRUST: {0}")]
    Trust(#[from] haul_bless::KeyError),
    #[error("HAUL_TRUST_THRESHOLD: {0}")]
    Threshold(String),
    #[error(transparent)]
    Store(#[from] haul_store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How the last round ended for each app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub apps: Vec<(String, Outcome)>,
}

impl Summary {
    /// No app failed or refused (`--once` exits non-zero otherwise).
    pub fn ok(&self) -> bool {
        !self.apps.iter().any(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::Refused(_)))
    }
}

/// What every app's round shares.
pub(crate) struct Agent {
    pub config: AgentConfig,
    pub store: Store,
    pub trust: Trust,
    /// What this agent seals its store reports and claims with
    /// (`HAUL_REPORT_KEY`).
    pub seal: Option<haul_bless::SecretKey>,
    pub holder: haul_host::Holder,
    pub user: String,
    /// Posts reports to `HAUL_LEDGER`, when set.
    pub poster: Option<crate::report::Poster>,
    stop: AtomicBool,
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

impl Agent {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn warn(&self, message: &str) {
        (self.warn)(message)
    }

    pub(crate) fn transport(&self) -> haul_transport::Transport {
        haul_transport::Transport::Local(haul_transport::Local::new(self.config.host.clone()))
    }
}

/// Runs the agent with `config` until `shutdown` completes (or one round).
/// Messages that are not part of a report (a report that could not be
/// written, a release not pruned) go to standard error.
pub async fn run(config: AgentConfig, mode: Mode, shutdown: impl Future<Output = ()>) -> Result<Summary, AgentError> {
    run_with(config, mode, shutdown, |m| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "haul agent: {m}");
    })
    .await
}

/// [`run`], with a sink for the agent's messages, and reporting each round.
pub async fn run_with(
    config: AgentConfig,
    mode: Mode,
    shutdown: impl Future<Output = ()>,
    warn: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Summary, AgentError> {
    let keys = config.trust.iter().map(|p| PublicKey::read(p)).collect::<Result<Vec<_>, _>>()?;
    let trust = Trust::new(keys, config.threshold).map_err(AgentError::Threshold)?;
    let seal = config.report_key.as_deref().map(haul_bless::SecretKey::read).transpose()?;
    std::fs::create_dir_all(&config.root)
        .map_err(|source| AgentError::Io { path: config.root.display().to_string(), source })?;
    let store = Store::open(&config.store, &config.store_options)?;
    let mut shutdown = std::pin::pin!(shutdown);
    // A store that cannot be reached at start is waited for by a looping
    // agent (it may come up after the host); `--once` reports it.
    while let Err(e) = store.check_refuses_overwrite().await {
        if mode == Mode::Once || matches!(e, haul_store::StoreError::Overwrites { .. }) {
            return Err(e.into());
        }
        warn(&format!("{e}; trying again in {:?}", config.interval));
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = &mut shutdown => return Ok(Summary::default()),
        }
    }
    let user = format!("agent@{}", config.host);
    let poster = crate::report::Poster::new(config.ledger.as_deref(), config.token.as_deref()).unwrap_or_else(|e| {
        warn(&e);
        None
    });
    let agent = Agent {
        config,
        store,
        trust,
        seal,
        holder: haul_host::Holder::current(),
        user,
        poster,
        stop: AtomicBool::new(false),
        warn: Box::new(warn),
    };
    let wake = tokio::sync::Notify::new();
    // The newest version each app is known to have (from its state at
    // start, then from each round): a wake-up above it starts a round.
    let known: Vec<AtomicU64> = agent
        .config
        .apps
        .iter()
        .map(|app| {
            let s = crate::state::load(&crate::state::path(&agent.config.root, app)).ok();
            AtomicU64::new(s.and_then(|s| s.accepted).map_or(0, |a| a.version))
        })
        .collect();
    let work = async {
        let mut memory: Vec<Memory> = agent.config.apps.iter().map(|_| Memory::default()).collect();
        let mut summary;
        loop {
            summary = Summary::default();
            for ((app, mem), known) in agent.config.apps.iter().zip(memory.iter_mut()).zip(&known) {
                if agent.stopping() {
                    break;
                }
                let outcome = sync_app(&agent, app, mem).await;
                known.fetch_max(mem.version.unwrap_or(0), Ordering::SeqCst);
                // A looping agent says when an app's state changes (the
                // journal of a systemd unit); `--once` prints its summary.
                if mode == Mode::Loop && mem.last.as_ref() != Some(&outcome) {
                    agent.warn(&format!("{app}: {}", describe(&outcome)));
                    mem.last = Some(outcome.clone());
                }
                summary.apps.push((app.clone(), outcome));
            }
            if mode == Mode::Once || agent.stopping() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(jittered(agent.config.interval, &agent.config.host)) => {}
                _ = wake.notified() => {}
            }
            if agent.stopping() {
                break;
            }
        }
        summary
    };
    let watch = async {
        shutdown.await;
        agent.stop.store(true, Ordering::SeqCst);
        wake.notify_one();
        std::future::pending::<()>().await;
    };
    let woken = async {
        if mode == Mode::Loop {
            crate::wake::follow(&agent, &known, &wake).await;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        summary = work => Ok(summary),
        _ = watch => unreachable!("the watcher never ends"),
        _ = woken => unreachable!("the subscription never ends"),
    }
}

/// One line for an app's outcome.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::NoBlessing => "not blessed yet".into(),
        Outcome::Live { version, release } => format!("live {release} (blessing v{version})"),
        Outcome::Waiting(w) => format!("waiting: {w}"),
        Outcome::Failed(e) => format!("failed: {e}"),
        Outcome::Refused(e) => format!("refused: {e}"),
    }
}

/// `interval` ± 10%, from a hash of the host and the time.
fn jittered(interval: Duration, host: &str) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(host.as_bytes());
    h.update(&now.as_nanos().to_le_bytes());
    let b = h.finalize();
    let r = u16::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1]]) as f64 / f64::from(u16::MAX);
    interval.mul_f64(0.9 + 0.2 * r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_stays_within_a_tenth() {
        let i = std::time::Duration::from_secs(30);
        for n in 0..200 {
            let j = super::jittered(i, &format!("h{n}"));
            assert!(j >= i.mul_f64(0.9) && j <= i.mul_f64(1.1), "{j:?}");
        }
    }
}

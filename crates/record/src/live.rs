//! Each host's progress reported to the ledger while a run goes, so the
//! server's event stream and dashboard show a deployment as it runs.
//!
//! The engine's observer is wrapped by a [`Tee`] that passes every event on
//! and turns each host's finished task into a host result. Reports go
//! through a channel to one task, which gathers them for up to [`GATHER`]
//! and sends each burst together (so the ledger commits them as one batch,
//! not one commit and fsync per host as hosts finish a few milliseconds
//! apart; a run that ends sends what is gathered at once, so every host's
//! progress is recorded before the run's outcome). Progress is best effort,
//! and the final report is what stands.

use crate::Client;
use haul_deploy::{Engine, Observer, Progress};
use haul_ledger::{HostResult, HostStatus, Phase};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// How long reports are gathered into one burst after the first arrives.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// Passes progress on and reports each host's phase.
struct Tee {
    inner: Arc<dyn Observer>,
    phase: Mutex<Phase>,
    tx: Mutex<Option<mpsc::UnboundedSender<HostResult>>>,
}

impl Observer for Tee {
    fn progress(&self, p: Progress<'_>) {
        match &p {
            Progress::Phase(phase) => *self.phase.lock().expect("not poisoned") = *phase,
            Progress::Finished { host: Some(host), ok, elapsed, .. } => {
                let phase = *self.phase.lock().expect("not poisoned");
                let h = HostResult {
                    host: host.to_string(),
                    phase,
                    status: if *ok { HostStatus::Running } else { HostStatus::Failed },
                    error: None,
                    elapsed_ms: elapsed.as_millis() as i64,
                };
                if let Some(tx) = &*self.tx.lock().expect("not poisoned") {
                    let _ = tx.send(h);
                }
            }
            _ => {}
        }
        self.inner.progress(p);
    }
}

/// The reporting of one run's hosts, from [`LiveHosts::start`] to
/// [`LiveHosts::stop`].
pub(crate) struct LiveHosts {
    tee: Arc<Tee>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveHosts {
    /// Puts the tee in front of `engine`'s observer and starts reporting to
    /// deployment `id`.
    pub(crate) fn start(client: &Client, engine: &mut Engine, id: i64) -> LiveHosts {
        let (tx, mut rx) = mpsc::unbounded_channel::<HostResult>();
        let tee =
            Arc::new(Tee { inner: engine.observer.clone(), phase: Mutex::new(Phase::Build), tx: Mutex::new(Some(tx)) });
        engine.observer = tee.clone();
        let (client, actor) = (client.clone(), engine.who.user.clone());
        let task = tokio::spawn(async move {
            let mut last: HashMap<String, (Phase, HostStatus)> = Default::default();
            while let Some(first) = rx.recv().await {
                // Take every report that comes within GATHER; one per host
                // and phase (or failure) is enough, and each host's newest
                // stands.
                let mut burst = BTreeMap::new();
                let until = tokio::time::Instant::now() + GATHER;
                let mut next = Some(first);
                loop {
                    if let Some(h) = next.take() {
                        let key = (h.phase, h.status);
                        if last.get(&h.host) != Some(&key) {
                            last.insert(h.host.clone(), key);
                            burst.insert(h.host.clone(), h);
                        }
                    }
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(h)) => next = Some(h),
                        // Gathered long enough, or the run ended: what is
                        // gathered goes now, before the run's outcome.
                        Ok(None) | Err(_) => break,
                    }
                }
                // Sent together, so the ledger commits them as one batch.
                let mut sends = tokio::task::JoinSet::new();
                for h in burst.into_values() {
                    let (client, actor) = (client.clone(), actor.clone());
                    sends.spawn(async move { client.record_host(id, &h, &actor).await });
                }
                while sends.join_next().await.is_some() {}
            }
        });
        LiveHosts { tee, task }
    }

    /// Stops reporting, once every report so far has landed (what was
    /// being gathered is sent at once), and gives `engine` its own
    /// observer back.
    pub(crate) async fn stop(self, engine: &mut Engine) {
        self.tee.tx.lock().expect("not poisoned").take();
        engine.observer = self.tee.inner.clone();
        let _ = self.task.await;
    }
}

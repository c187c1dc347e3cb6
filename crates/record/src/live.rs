//! Each host's progress reported to the ledger while a run goes, so the
//! server's event stream and dashboard show a deployment as it runs.
//!
//! The engine's observer is wrapped by a [`Tee`] that passes every event on
//! and turns each host's finished task into a host result. Reports go
//! through a channel to one task, which sends each burst together (so the
//! ledger commits them as one batch); progress is best effort, and the final
//! report is what stands.

use crate::Client;
use haul_deploy::{Engine, Observer, Progress};
use haul_ledger::{HostResult, HostStatus, Phase};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

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
                // Take every report waiting; one per host and phase (or
                // failure) is enough, and each host's newest stands.
                let mut burst = BTreeMap::new();
                let mut next = Some(first);
                while let Some(h) = next {
                    let key = (h.phase, h.status);
                    if last.get(&h.host) != Some(&key) {
                        last.insert(h.host.clone(), key);
                        burst.insert(h.host.clone(), h);
                    }
                    next = rx.try_recv().ok();
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

    /// Stops reporting, once every report sent so far has landed, and gives
    /// `engine` its own observer back.
    pub(crate) async fn stop(self, engine: &mut Engine) {
        self.tee.tx.lock().expect("not poisoned").take();
        engine.observer = self.tee.inner.clone();
        let _ = self.task.await;
    }
}

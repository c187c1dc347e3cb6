//! The executor: runs plans against hosts; `ops.rs` adds the commands that
//! inspect or tidy hosts (status, prune, remove, unlock, exec).
//!
//! Invariants it keeps:
//! - every host of a run is locked before anything changes and unlocked after,
//!   whatever happens ([`locks`]);
//! - each task runs on every host before the next task starts (a barrier), so
//!   no host is switched until every host has staged ([`rollout`]);
//! - a failure before the switch leaves `current` untouched everywhere and
//!   removes the half-staged release ([`recovery`]);
//! - a failure at or after the switch applies the failure policy to every
//!   host, and the report says where each host was left ([`report`]); where a
//!   lost connection leaves that unknown, the report claims nothing.
//!
//! A file per job: [`run`] sets a run up (build, reach, lock, each host's
//! goal), [`rollout`] walks the phases and batches, [`tasks`] runs one task
//! locally or on hosts, [`records`] reads release records once per run,
//! [`recovery`] undoes, [`prune`] tidies after, [`report`] says what
//! happened; [`state`] is where a host's run stands, [`errors`] why a task
//! failed.

mod errors;
mod locks;
mod prune;
mod records;
mod recovery;
mod report;
mod rollout;
mod run;
mod state;
mod tasks;

pub use errors::{NoWayBack, RecoveryNote, StepError, StepFailed, TaskError, TaskFailure};
pub(crate) use locks::humanize;
pub use state::IllegalMove;

use crate::{DeployError, Observer, Whoami};
use haul_config::{Config, HostKeys, HostTarget, Reach};
use haul_host::{Event, EventKind, HostApp};
use haul_release::{Release, ReleaseCache};
use haul_transport::{Hop, Local, SshOptions, SshPool, SshSetupError, SshTarget, Transport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Runs plans and host commands for one config.
pub struct Engine {
    pub config: Arc<Config>,
    pub observer: Arc<dyn Observer>,
    /// Hosts worked on at once.
    pub parallel: usize,
    pub who: Whoami,
    /// Set (by a signal handler) to stop between tasks.
    pub interrupted: Arc<AtomicBool>,
    /// Leave hosts that cannot be reached out of a run instead of refusing it.
    pub skip_unreachable: bool,
    /// Why the run happens, recorded with it.
    pub reason: Option<String>,
    /// The ledger's key for secret digests (`haul_ledger::Ledger::secret_key`):
    /// with it, each host's report carries the digests of the secret files
    /// it was given, for the caller to record.
    pub secret_key: Option<[u8; 32]>,
    /// SSH connections of this run, made on first use.
    ssh: OnceLock<Result<Arc<SshPool>, Arc<SshSetupError>>>,
    /// Release records read from the cache during this run, by id.
    records: records::Memo<Arc<Release>>,
    /// What reads each release's files from the cache, by id.
    contents: records::Memo<haul_release::Contents>,
}

impl Engine {
    pub fn new(config: Config, observer: Arc<dyn Observer>, parallel: usize, who: Whoami) -> Engine {
        Engine {
            config: Arc::new(config),
            observer,
            parallel: parallel.max(1),
            who,
            interrupted: Arc::new(AtomicBool::new(false)),
            skip_unreachable: false,
            reason: None,
            secret_key: None,
            ssh: OnceLock::new(),
            records: Default::default(),
            contents: Default::default(),
        }
    }

    fn ssh_pool(&self) -> Result<&Arc<SshPool>, DeployError> {
        self.ssh
            .get_or_init(|| {
                let targets: Vec<SshTarget> = self
                    .config
                    .hosts
                    .keys()
                    .map(|k| self.config.host_target(k.get_ref()))
                    .filter_map(|h| match h.reach {
                        Reach::Ssh { address, user, port, jump } => Some(SshTarget {
                            name: h.name,
                            address,
                            user,
                            port,
                            jump: jump
                                .into_iter()
                                .map(|j| Hop { key: j.key, address: j.address, user: j.user, port: j.port })
                                .collect(),
                        }),
                        Reach::Local => None,
                    })
                    .collect();
                let opts = SshOptions {
                    config: self.config.ssh_config_path(),
                    accept_new: self.config.ssh.host_keys == HostKeys::AcceptNew,
                    connect_timeout: self.config.ssh.connect_timeout.0,
                    persist: self.config.ssh.persist.0,
                };
                SshPool::new(&targets, opts).map_err(Arc::new)
            })
            .as_ref()
            .map_err(|e| DeployError::SshSetup(e.clone()))
    }

    pub fn cache(&self) -> ReleaseCache {
        ReleaseCache::new(self.config.cache_dir())
    }

    /// The way to reach `target`, for `dir` on it.
    pub fn host_app(&self, target: &HostTarget, dir: String) -> Result<HostApp, DeployError> {
        let transport = match &target.reach {
            // A directory here stands in for a server, which would not hold
            // this machine's secrets: its scripts and steps do not see them.
            Reach::Local => {
                Transport::Local(Local::new(&target.name).without_env(crate::build::secret_vars(&self.config)))
            }
            Reach::Ssh { .. } => Transport::Ssh(self.ssh_pool()?.host(&target.name)),
        };
        Ok(HostApp::new(transport, dir))
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn event(&self, kind: EventKind, env: &str, from: Option<String>, to: Option<String>) -> Event {
        Event { from, to, env: Some(env.to_string()), ..Event::now(kind, &self.who.user) }
    }
}

//! What an agent remembers about one app between runs, in
//! `<root>/.haul/agent/<app>.json`: the blessing it accepted (so a replayed
//! older one is refused after a restart), how far it got with it, the step
//! in flight (so a step a crash cut short is reported and redone), and its
//! backoff. It lives beside the app directories rather than in one because
//! the app's directory is named by the blessing, and the state must be read
//! before the blessing is judged.
//!
//! Written whole to a temporary file, synced and renamed over the old one:
//! a crash leaves either the old state or the new one, never half of one.
//! The rename itself is made durable (the directory synced) only when the
//! caller asks: when what was accepted changed, since forgetting that
//! would let a replayed blessing in after a power loss. Losing the newest
//! progress only makes the agent redo a step, never skip one.

use haul_bless::Accepted;
use haul_store::reports::{AgentPhase, StepReport};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The step being done when the state was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub version: u64,
    pub release: String,
    pub phase: AgentPhase,
    pub started: Timestamp,
}

/// One app's remembered state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// The highest blessing accepted; only written after it was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// The blessing version the fields below are about.
    #[serde(default)]
    pub version: u64,
    /// The last phase finished for `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<AgentPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
    /// Failures in a row for `version`, and when the next try may start.
    #[serde(default)]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// The steps reported for `version`, in order.
    #[serde(default)]
    pub steps: Vec<StepReport>,
    /// When the last report was written (for the idle heartbeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Timestamp>,
}

/// Steps kept per blessing: the oldest go first.
const MAX_STEPS: usize = 64;

impl AppState {
    /// Starts over for blessing `version`: what was reached and the backoff
    /// belong to the old one.
    pub fn begin(&mut self, version: u64) {
        if self.version != version {
            self.version = version;
            self.reached = None;
            self.failures = 0;
            self.retry_at = None;
            self.steps.clear();
        }
    }

    pub fn push_step(&mut self, step: StepReport) {
        self.steps.push(step);
        if self.steps.len() > MAX_STEPS {
            self.steps.remove(0);
        }
    }

    /// Whether `phase` was finished for the current version.
    pub fn done(&self, phase: AgentPhase) -> bool {
        self.reached.is_some_and(|r| order(r) >= order(phase))
    }
}

/// Where a phase stands in the order an agent goes through them.
pub fn order(phase: AgentPhase) -> u8 {
    use AgentPhase::*;
    match phase {
        Idle | Refused | Failed => 0,
        Download => 1,
        Unpack => 2,
        PostSync => 3,
        Migrate => 4,
        Waiting => 5,
        PreJump => 6,
        Switch => 7,
        PostJump => 8,
        Health => 9,
        Live => 10,
    }
}

/// The state file of `app` under `root`.
pub fn path(root: &Path, app: &str) -> PathBuf {
    root.join(".haul").join("agent").join(format!("{app}.json"))
}

/// A state file that cannot be read or written, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

/// Reads the state at `path`; a missing file is a fresh state. A file that
/// cannot be read is an error, never a fresh start: forgetting the accepted
/// version would let a replayed blessing in.
pub fn load(path: &Path) -> Result<AppState, StateError> {
    let err = |message: String| StateError { path: path.display().to_string(), message };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("{e} (the agent's memory of what it accepted; fix or remove it)"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AppState::default()),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes `state` at `path` atomically; `durable` also syncs the rename.
pub fn save(path: &Path, state: &AppState, durable: bool) -> Result<(), StateError> {
    let err = |e: std::io::Error| StateError { path: path.display().to_string(), message: e.to_string() };
    let dir = path.parent().expect("a state file has a directory");
    std::fs::create_dir_all(dir).map_err(err)?;
    // A temporary file of this write's own: two agent processes of one app
    // (an overlapping cron run) saving at once must not write into, or
    // rename away, each other's file, which left a state that was a mix of
    // both (unreadable: the agent stops until a person removes it, and with
    // it the memory of what was accepted) or a save that failed.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).expect("state serializes"))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    if durable && let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reads_back_and_a_missing_one_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        assert_eq!(load(&p).unwrap(), AppState::default());
        let mut s = AppState { accepted: Some(Accepted { version: 3, envelope: "ab".into() }), ..Default::default() };
        s.begin(3);
        s.reached = Some(AgentPhase::PostSync);
        save(&p, &s, true).unwrap();
        assert_eq!(load(&p).unwrap(), s);
        assert!(s.done(AgentPhase::Download) && !s.done(AgentPhase::Migrate));
    }

    #[test]
    fn saves_at_once_never_leave_an_unreadable_state() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let p = &p;
                s.spawn(move || {
                    for i in 0..150u64 {
                        let mut st = AppState {
                            accepted: Some(Accepted {
                                version: t * 1000 + i,
                                envelope: "ab".repeat(1 + (i as usize % 7) * 300),
                            }),
                            ..Default::default()
                        };
                        st.begin(i);
                        save(p, &st, i % 2 == 0).unwrap();
                        load(p).unwrap();
                    }
                });
            }
        });
        load(&p).unwrap();
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn an_unreadable_state_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "{\"accepted\": {\"vers").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.path.ends_with("web.json"), "{e}");
    }
}

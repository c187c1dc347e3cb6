//! What an agent remembers about one app between runs, in
//! `<root>/.haul/agent/<app>.json`: the blessing it accepted (so a replayed
//! older one is refused after a restart), how far it got with it, the step
//! in flight (so a step a crash cut short is reported and redone), and its
//! backoff. It lives beside the app directories rather than in one because
//! the app's directory is named by the blessing, and the state must be read
//! before the blessing is judged.
//!
//! Two files, each written whole to a temporary file and renamed over the
//! old one, so a crash leaves either the old file or the new one, never
//! half of one:
//! - `<app>.json` holds what was accepted. It is written only when that
//!   changes, and then durably (the file synced before its rename, the
//!   directory after): forgetting it would let a replayed blessing in after
//!   a power loss.
//! - `<app>.progress` holds the rest (how far the current blessing got, the
//!   step in flight, the backoff), written before and after every step and
//!   never synced: a killed process loses nothing (the kernel has the
//!   file), and a power loss at worst leaves an older or a torn progress
//!   file, which is read as less progress. The agent then redoes steps; it
//!   never skips one. Syncing it cost a deploy about twenty fsyncs.
//!
//! A state file from before the split (everything in `<app>.json`) is read
//! as both.

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

/// The state file of `app` under `root` (what was accepted; the progress
/// file is beside it, see [`progress_path`]).
pub fn path(root: &Path, app: &str) -> PathBuf {
    root.join(".haul").join("agent").join(format!("{app}.json"))
}

/// The progress file beside the state file at `path`. Its suffix is not
/// `.json`, so no app's state file can be another app's progress file.
pub fn progress_path(path: &Path) -> PathBuf {
    path.with_extension("progress")
}

/// A state file that cannot be read or written, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

/// Reads the state at `path` and its progress file; a missing file is a
/// fresh state. A state file that cannot be read is an error, never a fresh
/// start: forgetting the accepted version would let a replayed blessing in.
/// A progress file that cannot be read or parsed (torn by a power loss) is
/// no progress: the steps are done again.
pub fn load(path: &Path) -> Result<AppState, StateError> {
    let err = |message: String| StateError { path: path.display().to_string(), message };
    let mut state: AppState = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("{e} (the agent's memory of what it accepted; fix or remove it)")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AppState::default(),
        Err(e) => return Err(err(e.to_string())),
    };
    let progress = std::fs::read(progress_path(path)).ok().and_then(|b| serde_json::from_slice::<AppState>(&b).ok());
    if let Some(p) = progress {
        state = AppState { accepted: state.accepted, ..p };
    }
    Ok(state)
}

/// Writes `state`: its progress always, what it accepted only when that
/// differs from what `path` holds (and then durably, before the progress).
pub fn save(path: &Path, state: &AppState) -> Result<(), StateError> {
    let err = |p: &Path, e: std::io::Error| StateError { path: p.display().to_string(), message: e.to_string() };
    let dir = path.parent().expect("a state file has a directory");
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let on_disk =
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<AppState>(&b).ok()).and_then(|s| s.accepted);
    if on_disk != state.accepted {
        let accepted = AppState { accepted: state.accepted.clone(), ..AppState::default() };
        replace(path, &accepted, true).map_err(|e| err(path, e))?;
    }
    let progress = progress_path(path);
    replace(&progress, &AppState { accepted: None, ..state.clone() }, false).map_err(|e| err(&progress, e))
}

/// Replaces the file at `path` with `state` by a rename; `durable` syncs
/// the file before the rename and the directory after it.
fn replace(path: &Path, state: &AppState, durable: bool) -> std::io::Result<()> {
    let dir = path.parent().expect("a state file has a directory");
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
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
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
        save(&p, &s).unwrap();
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
                        save(p, &st).unwrap();
                        load(p).unwrap();
                    }
                });
            }
        });
        load(&p).unwrap();
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "the state and its progress, no temporary file: {left:?}");
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

    #[test]
    fn progress_alone_leaves_the_accepted_file_untouched() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        let mut s = AppState { accepted: Some(Accepted { version: 3, envelope: "ab".into() }), ..Default::default() };
        s.begin(3);
        save(&p, &s).unwrap();
        let inode = std::fs::metadata(&p).unwrap().ino();
        s.reached = Some(AgentPhase::Switch);
        save(&p, &s).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), inode, "rewritten for progress alone");
        assert_eq!(load(&p).unwrap(), s);
        s.accepted = Some(Accepted { version: 4, envelope: "cd".into() });
        save(&p, &s).unwrap();
        assert_ne!(std::fs::metadata(&p).unwrap().ino(), inode, "a new acceptance is written");
        assert!(!std::fs::read_to_string(&p).unwrap().contains("reached"), "progress stays out of it");
        assert_eq!(load(&p).unwrap(), s);
    }

    #[test]
    fn a_torn_progress_file_is_less_progress_never_a_forgotten_acceptance() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        let mut s = AppState { accepted: Some(Accepted { version: 9, envelope: "ab".into() }), ..Default::default() };
        s.begin(9);
        s.reached = Some(AgentPhase::Live);
        save(&p, &s).unwrap();
        for torn in ["", "{\"version\": 9, \"reach"] {
            std::fs::write(progress_path(&p), torn).unwrap();
            let got = load(&p).unwrap();
            assert_eq!(got.accepted, s.accepted, "{torn:?}");
            assert_eq!(got.reached, None, "{torn:?}");
        }
    }

    #[test]
    fn a_state_from_before_the_split_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        let mut s = AppState { accepted: Some(Accepted { version: 2, envelope: "ab".into() }), ..Default::default() };
        s.begin(2);
        s.reached = Some(AgentPhase::Migrate);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(load(&p).unwrap(), s);
    }
}

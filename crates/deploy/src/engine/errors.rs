//! Why a task failed on a host, and what switching a host back could not do.
//!
//! Each error carries the host (and the phase) as fields, so a message names
//! the host once, where it is displayed: an error from `haul-host` already
//! names its host and is shown as it is; every other failure gets the prefix.

use crate::DeployError;
use crate::engine::state::IllegalMove;
use crate::health::HealthError;
use haul_api::Phase;
use haul_host::HostError;
use haul_transport::Output;
use std::fmt;

/// A user's step that ran and did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{label} failed ({}){}", exit(*code), if output.is_empty() { String::new() } else { format!(":\n{output}") })]
pub struct StepFailed {
    pub label: String,
    /// `None` when it was killed by a signal.
    pub code: Option<i32>,
    pub output: String,
}

fn exit(code: Option<i32>) -> String {
    code.map_or("killed by a signal".into(), |c| format!("exit {c}"))
}

impl StepFailed {
    /// `Ok` when the step's output says it succeeded.
    pub(crate) fn check(label: &str, out: Output) -> Result<(), StepFailed> {
        if out.success() {
            return Ok(());
        }
        Err(StepFailed { label: label.to_string(), code: out.code, output: out.combined() })
    }
}

/// What went wrong in one task.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// The host could not be reached or refused; names the host itself.
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Step(#[from] StepFailed),
    #[error(transparent)]
    Health(#[from] HealthError),
    /// A local step could not be started.
    #[error(transparent)]
    Local(Box<DeployError>),
    #[error("interrupted")]
    Interrupted,
    /// The plan put a task where it cannot run (a bug in the plan).
    #[error("`{0}` cannot run here")]
    Misplaced(String),
    #[error(transparent)]
    Illegal(#[from] IllegalMove),
}

impl TaskFailure {
    /// Whether the message already says which host it is about (an error of
    /// `haul-host` does), or is about the run as a whole (an interruption).
    fn names_its_host(&self) -> bool {
        matches!(self, TaskFailure::Host(_) | TaskFailure::Interrupted)
    }

    /// Whether this failure, of a switch, may have moved `current` (the
    /// connection was lost, or the switch failed after the rename), so the
    /// host may or may not have switched. A host that refused before the
    /// rename did not switch.
    pub(crate) fn switch_may_have_moved(&self) -> bool {
        matches!(self, TaskFailure::Host(e) if e.switch_may_have_moved())
    }
}

/// A task that failed, on a host or locally, in a phase.
#[derive(Debug)]
pub struct TaskError {
    /// `None` for a task that ran on this machine.
    pub host: Option<String>,
    pub phase: Phase,
    pub failure: TaskFailure,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => write!(f, "local: {}", self.failure),
            Some(_) if self.failure.names_its_host() => write!(f, "{}", self.failure),
            Some(h) => write!(f, "{h}: {}", self.failure),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.failure)
    }
}

/// A step of a switch back that did not run (on a host that could not be
/// reached) or failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The transport's message, without the host (the note names it).
    #[error("{}", .0.message)]
    Unreached(haul_transport::TransportError),
    #[error(transparent)]
    Host(HostError),
    #[error(transparent)]
    Failed(#[from] StepFailed),
}

impl From<HostError> for StepError {
    fn from(e: HostError) -> StepError {
        match e {
            HostError::Transport(t) => StepError::Unreached(t),
            other => StepError::Host(other),
        }
    }
}

/// What switching one host back could not do; the run's message lists them.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryNote {
    #[error("{host}: stop while switching back: {error}")]
    Stop { host: String, error: StepError },
    #[error("{host}: start while switching back: {error}")]
    Start { host: String, error: StepError },
    /// The switch itself failed; `error` names the host.
    #[error("{host}: could not switch back: {error}")]
    Switch { host: String, error: HostError },
    #[error("{host}: {why}; {}", match left_on { Some(r) => format!("left on {r}"), None => "its live release is unknown".into() })]
    NowhereBack { host: String, why: NoWayBack, left_on: Option<String> },
    #[error("{host}: {error}")]
    Illegal { host: String, error: IllegalMove },
}

/// Why a host has no release to go back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoWayBack {
    #[error("{0}, which ran before, is quarantined and no release before it is left")]
    Quarantined(String),
    #[error("nothing ran before")]
    NothingBefore,
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_transport::TransportError;

    fn lost(host: &str) -> HostError {
        HostError::Transport(TransportError { host: host.into(), message: "connection lost".into() })
    }

    #[test]
    fn the_host_is_named_once() {
        let e = TaskError { host: Some("h2".into()), phase: Phase::Switch, failure: lost("h2").into() };
        assert_eq!(e.to_string(), "h2: connection lost");
        let step = StepFailed { label: "start: x".into(), code: Some(3), output: "boom".into() };
        let e = TaskError { host: Some("h2".into()), phase: Phase::Switch, failure: step.into() };
        assert_eq!(e.to_string(), "h2: start: x failed (exit 3):\nboom");
        let e = TaskError { host: None, phase: Phase::Migrate, failure: TaskFailure::Interrupted };
        assert_eq!(e.to_string(), "local: interrupted");
        let note = RecoveryNote::Start { host: "h2".into(), error: lost("h2").into() };
        assert_eq!(note.to_string(), "h2: start while switching back: connection lost");
    }

    #[test]
    fn a_switch_whose_connection_drops_is_not_a_switch_the_host_refused() {
        assert!(TaskFailure::from(lost("h1")).switch_may_have_moved());
        let refused = HostError::Script { host: "h1".into(), what: "switch".into(), code: Some(4), output: "".into() };
        assert!(!TaskFailure::from(refused).switch_may_have_moved());
        let step = StepFailed { label: "x".into(), code: None, output: String::new() };
        assert!(!TaskFailure::from(step.clone()).switch_may_have_moved());
        assert_eq!(step.to_string(), "x failed (killed by a signal)");
    }
}

//! Where one host's run stands: one state, with every legal move between
//! states in one table ([`RunState::after`]).
//!
//! A host's run used to be a handful of flags (unchanged, stopped, switched,
//! switched back, live unknown) whose legal combinations lived in the code
//! that set them. The state says where the host's `current` link is (or that
//! nobody can tell); whether the host goes on through the plan is its error,
//! kept beside it on [`HostRun`], since a host can fail in any state.

use crate::engine::errors::TaskError;
use haul_api::Phase;
use haul_config::HostTarget;
use haul_host::{HostApp, HostState, StageReport};
use haul_release::ReleaseId;
use std::sync::Arc;
use std::time::Instant;

/// Where a host's run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Already ran the release: nothing to do.
    Unchanged,
    /// Going through the plan; `current` points where it did.
    Pending,
    /// Its service was stopped for the switch; `current` not moved yet.
    Stopped,
    /// `current` points at the new release.
    Switched,
    /// The switch's connection was lost: `current` may point at either.
    SwitchUnknown,
    /// Switched, then back to `to` (the failure policy).
    SwitchedBack { to: String },
    /// Switching back lost its connection: it may or may not have happened.
    BackUnknown,
}

/// Something that happened to a host that moves its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Move {
    /// A stop step ran.
    Stop,
    /// The switch went through.
    Switch,
    /// The switch's connection was lost.
    SwitchLost,
    /// A switch back to this release went through.
    SwitchBack(String),
    /// A switch back's connection was lost.
    BackLost,
}

/// A move the state it was tried in does not allow: a bug in the engine,
/// reported as the host's failure rather than a panic with every host locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: a host that is {from:?} cannot {by:?}")]
pub struct IllegalMove {
    from: RunState,
    by: Move,
}

impl RunState {
    /// The state `by` leads to from here, if it may happen here.
    pub(crate) fn after(&self, by: &Move) -> Result<RunState, IllegalMove> {
        use RunState::*;
        let next = match (self, by) {
            (Pending | Stopped, Move::Stop) => Stopped,
            (Pending | Stopped, Move::Switch) => Switched,
            (Pending | Stopped, Move::SwitchLost) => SwitchUnknown,
            (Switched | SwitchUnknown, Move::SwitchBack(to)) => SwitchedBack { to: to.clone() },
            (Switched | SwitchUnknown, Move::BackLost) => BackUnknown,
            _ => return Err(IllegalMove { from: self.clone(), by: by.clone() }),
        };
        Ok(next)
    }

    /// Whether `current` may have moved to the new release (so a switch
    /// back has something to undo).
    pub(crate) fn may_have_switched(&self) -> bool {
        matches!(self, RunState::Switched | RunState::SwitchUnknown | RunState::BackUnknown)
    }
}

/// One host during a run.
pub(crate) struct HostRun {
    pub app: HostApp,
    pub target: HostTarget,
    /// What was on the host when the run began.
    pub host: HostState,
    /// Live release before the run.
    pub before: Option<String>,
    /// The release this host is switched to: checked, since host scripts
    /// and paths interpolate it.
    pub goal: ReleaseId,
    pub state: RunState,
    pub stage: Option<StageReport>,
    /// The secret files written, by path, with their keyed digests (when
    /// the engine has a key).
    pub secrets: Vec<(String, String)>,
    pub reached: Phase,
    /// Why this host stopped going through the plan.
    pub error: Option<Arc<TaskError>>,
    pub started: Instant,
}

impl HostRun {
    pub(crate) fn new(app: HostApp, target: HostTarget, host: HostState, goal: ReleaseId) -> HostRun {
        let before = host.current.clone();
        let state = if before.as_deref() == Some(goal.as_str()) { RunState::Unchanged } else { RunState::Pending };
        HostRun {
            app,
            target,
            host,
            before,
            goal,
            state,
            stage: None,
            secrets: Vec::new(),
            reached: Phase::Stage,
            error: None,
            started: Instant::now(),
        }
    }

    pub(crate) fn unchanged(&self) -> bool {
        self.state == RunState::Unchanged
    }

    /// Still going through the plan.
    pub(crate) fn active(&self) -> bool {
        !self.unchanged() && self.error.is_none()
    }

    /// Moves the state by `by`, or says why it may not.
    pub(crate) fn advance(&mut self, by: Move) -> Result<(), IllegalMove> {
        self.state = self.state.after(&by)?;
        Ok(())
    }

    /// The release live on the host now, as far as anyone can tell: `None`
    /// when nothing is, or when a lost connection leaves it unknown.
    pub(crate) fn live(&self) -> Option<String> {
        match &self.state {
            RunState::Unchanged | RunState::Pending | RunState::Stopped => self.before.clone(),
            RunState::Switched => Some(self.goal.to_string()),
            RunState::SwitchedBack { to } => Some(to.clone()),
            RunState::SwitchUnknown | RunState::BackUnknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunState::*;

    fn all_states() -> Vec<RunState> {
        vec![Unchanged, Pending, Stopped, Switched, SwitchUnknown, SwitchedBack { to: "r1".into() }, BackUnknown]
    }

    fn all_moves() -> Vec<Move> {
        vec![Move::Stop, Move::Switch, Move::SwitchLost, Move::SwitchBack("r1".into()), Move::BackLost]
    }

    #[test]
    fn a_deploy_moves_pending_through_stop_and_switch_to_switched_back() {
        let mut s = Pending;
        for m in [Move::Stop, Move::Stop, Move::Switch, Move::SwitchBack("r1".into())] {
            s = s.after(&m).unwrap();
        }
        assert_eq!(s, SwitchedBack { to: "r1".into() });
        assert_eq!(Pending.after(&Move::SwitchLost).unwrap(), SwitchUnknown);
        assert_eq!(SwitchUnknown.after(&Move::SwitchBack("r1".into())).unwrap(), SwitchedBack { to: "r1".into() });
        assert_eq!(Switched.after(&Move::BackLost).unwrap(), BackUnknown);
    }

    #[test]
    fn illegal_moves_are_refused_and_named() {
        let legal = [
            (Pending, Move::Stop),
            (Stopped, Move::Stop),
            (Pending, Move::Switch),
            (Stopped, Move::Switch),
            (Pending, Move::SwitchLost),
            (Stopped, Move::SwitchLost),
            (Switched, Move::SwitchBack("r1".into())),
            (SwitchUnknown, Move::SwitchBack("r1".into())),
            (Switched, Move::BackLost),
            (SwitchUnknown, Move::BackLost),
        ];
        for from in all_states() {
            for by in all_moves() {
                let allowed = legal.contains(&(from.clone(), by.clone()));
                assert_eq!(from.after(&by).is_ok(), allowed, "{from:?} by {by:?}");
            }
        }
        // The ones a bug would most likely try.
        assert!(Unchanged.after(&Move::Switch).is_err(), "a host already on the release is never switched");
        assert!(Pending.after(&Move::SwitchBack("r1".into())).is_err(), "nothing to switch back from");
        assert!(SwitchedBack { to: "r1".into() }.after(&Move::Switch).is_err(), "a switched-back host stays back");
        assert!(Switched.after(&Move::Stop).is_err(), "stops come before the switch");
        let e = BackUnknown.after(&Move::SwitchBack("r1".into())).unwrap_err();
        assert!(e.to_string().contains("BackUnknown"), "{e}");
    }

    #[test]
    fn only_a_state_where_current_may_have_moved_needs_a_switch_back() {
        for s in all_states() {
            let expected = matches!(s, Switched | SwitchUnknown | BackUnknown);
            assert_eq!(s.may_have_switched(), expected, "{s:?}");
        }
    }
}

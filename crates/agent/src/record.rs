//! THE mapping from an agent's report to the ledger's host result of the
//! deployment its blessing belongs to: the phase it reached, its status,
//! its error and how long it has been at it. `haul server` records it when
//! a report reaches it (posted or taken in from the store), and
//! `haul deploy` on a pull environment when it follows the store, so the
//! two cannot tell a host's part differently.
//!
//! Only the report is needed: its steps are those of its current blessing
//! (an agent starts them afresh with each version), so whether the agent
//! switched (or found the release already live: unchanged) and since when
//! it has worked are both in it.

use haul_api::records::HostResult;
use haul_api::{HostStatus, Phase};
use haul_store::reports::{AgentPhase, AgentReport};

/// The deployment phase an agent phase belongs to.
pub fn phase_of(p: AgentPhase) -> Phase {
    match p {
        AgentPhase::Idle | AgentPhase::Download | AgentPhase::Unpack | AgentPhase::PostSync => Phase::Stage,
        AgentPhase::Waiting | AgentPhase::Refused | AgentPhase::Failed => Phase::Stage,
        AgentPhase::Migrate => Phase::Migrate,
        AgentPhase::PreJump | AgentPhase::Switch | AgentPhase::PostJump => Phase::Switch,
        AgentPhase::Health | AgentPhase::Live => Phase::Verify,
    }
}

/// The phase a report's host reached: a failed one, its last step's.
pub fn reached(r: &AgentReport) -> Phase {
    match r.phase {
        AgentPhase::Failed => r.steps.iter().rev().map(|s| phase_of(s.phase)).next().unwrap_or(Phase::Stage),
        p => phase_of(p),
    }
}

/// The host's status on the blessing its report is about: live after a
/// switch is `ok`, live without one (the release was live already) is
/// `unchanged`, failed and refused are `failed`, anything else `running`.
pub fn status(r: &AgentReport) -> HostStatus {
    match r.phase {
        AgentPhase::Live if r.steps.iter().any(|s| s.phase == AgentPhase::Switch && s.ok) => HostStatus::Ok,
        AgentPhase::Live => HostStatus::Unchanged,
        AgentPhase::Failed | AgentPhase::Refused => HostStatus::Failed,
        _ => HostStatus::Running,
    }
}

/// How long the host has worked on its blessing: from its first step's
/// start to the report.
pub fn elapsed_ms(r: &AgentReport) -> i64 {
    let Some(first) = r.steps.iter().map(|s| s.started).min() else { return 0 };
    r.at.duration_since(first).as_millis().clamp(0, i64::MAX as i128) as i64
}

/// The host result `r` tells, for the deployment of the blessing it is
/// about. A failure without an error is named by its phase.
pub fn host_result(r: &AgentReport) -> HostResult {
    let status = status(r);
    let error = match (&r.error, status) {
        (Some(e), HostStatus::Failed) => Some(e.clone()),
        (None, HostStatus::Failed) => Some(format!("{:?}", r.phase).to_lowercase()),
        _ => None,
    };
    HostResult { host: r.host.clone(), phase: reached(r), status, error, elapsed_ms: elapsed_ms(r) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_store::reports::StepReport;

    fn report(phase: AgentPhase, steps: &[(AgentPhase, bool, i64)]) -> AgentReport {
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        AgentReport {
            host: "h1".into(),
            app: "web".into(),
            env: "prod".into(),
            roles: vec![],
            labels: Default::default(),
            wave: Some(0),
            blessing: Some(2),
            release: Some("r".into()),
            live: None,
            phase,
            error: None,
            steps: steps
                .iter()
                .map(|&(phase, ok, secs)| StepReport {
                    phase,
                    name: "s".into(),
                    ok,
                    started: t0 + jiff::SignedDuration::from_secs(secs),
                    millis: 1,
                    output: String::new(),
                })
                .collect(),
            at: t0 + jiff::SignedDuration::from_secs(9),
            agent: "0".into(),
        }
    }

    #[test]
    fn live_after_a_switch_is_ok_and_timed_from_the_first_step() {
        let r = report(AgentPhase::Live, &[(AgentPhase::Download, true, 1), (AgentPhase::Switch, true, 4)]);
        let h = host_result(&r);
        assert_eq!((h.phase, h.status, h.elapsed_ms, h.error), (Phase::Verify, HostStatus::Ok, 8000, None));
    }

    #[test]
    fn live_without_a_switch_is_unchanged() {
        let h = host_result(&report(AgentPhase::Live, &[(AgentPhase::Live, true, 0)]));
        assert_eq!(h.status, HostStatus::Unchanged);
    }

    #[test]
    fn a_failure_reached_its_last_step_and_is_named() {
        let h = host_result(&report(
            AgentPhase::Failed,
            &[(AgentPhase::Download, true, 0), (AgentPhase::Migrate, false, 2)],
        ));
        assert_eq!((h.phase, h.status, h.error.as_deref()), (Phase::Migrate, HostStatus::Failed, Some("failed")));
    }

    #[test]
    fn a_step_in_progress_is_running() {
        let h = host_result(&report(AgentPhase::Waiting, &[(AgentPhase::Download, true, 0)]));
        assert_eq!((h.phase, h.status), (Phase::Stage, HostStatus::Running));
    }
}

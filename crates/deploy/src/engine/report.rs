//! The report of a run: where each host was left and why, from each host's
//! run state. Where a lost connection leaves a host's live release unknown,
//! the report claims nothing about it.

use crate::Engine;
use crate::engine::state::{HostRun, RunState};
use crate::plan::{Plan, PlanKind};
use crate::report::{DeployReport, HostReport, HostStatus};
use std::time::Instant;

/// What a host's run came to, given whether the run as a whole succeeded.
fn status(run: &HostRun, ok: bool) -> HostStatus {
    match &run.state {
        RunState::Unchanged => HostStatus::Unchanged,
        RunState::SwitchedBack { .. } => HostStatus::SwitchedBack,
        _ if run.error.is_some() => HostStatus::Failed,
        s if !ok && !s.may_have_switched() => HostStatus::Untouched,
        _ => HostStatus::Ok,
    }
}

impl Engine {
    pub(super) fn report(
        &self,
        plan: &Plan,
        runs: &[HostRun],
        release: Option<String>,
        ok: bool,
        message: Option<String>,
        t0: Instant,
    ) -> DeployReport {
        let hosts = runs
            .iter()
            .map(|r| HostReport {
                host: r.target.name.clone(),
                status: status(r, ok),
                live: r.live(),
                before: r.before.clone(),
                reached: r.reached,
                elapsed_ms: r.started.elapsed().as_millis() as u64,
                error: r.error.as_ref().map(ToString::to_string),
                stage: r.stage.clone(),
                secrets: r.secrets.clone(),
            })
            .collect();
        DeployReport {
            kind: match plan.kind {
                PlanKind::Deploy => "deploy",
                PlanKind::Rollback => "rollback",
            },
            app: plan.app.clone(),
            env: plan.env.clone(),
            release,
            ok,
            message,
            hosts,
            elapsed_ms: t0.elapsed().as_millis() as u64,
        }
    }
}

//! A rollback to a named release whose plan is the switch alone, in one
//! round trip per host ([`HostApp::lock_switch`]: lock, read what is live,
//! switch, record, unlock) instead of a round to lock and inspect every
//! host and a round to switch.
//!
//! It gives up "every host locked before any changes" for this one case and
//! keeps what that rule is for: when any host cannot switch (its lock is
//! held, the release is not complete there, nothing is live), every host
//! that did switch is switched back, under its lock and only if it still
//! runs what this rollback put there, and the rollback runs the usual way,
//! which takes over dead locks and names what stops it. A host's switch
//! that fails (a lost connection, a history that cannot be written) is a
//! switch failure as in the usual way: a rollback halts, and the report
//! says where each host was left.

use crate::engine::errors::{TaskError, TaskFailure};
use crate::engine::state::{HostRun, Move};
use crate::fanout::each;
use crate::plan::{Action, Plan, PlanKind, ReleaseChoice, RolloutPlan};
use crate::report::DeployReport;
use crate::{DeployError, Engine, Phase, Progress};
use haul_host::{EventKind, HostApp, HostState, LockInfo, LockSwitch};
use haul_release::ReleaseId;
use std::sync::Arc;
use std::time::Instant;

/// The release a rollback goes to in one round trip per host, when it can:
/// a rollback to a named release, all hosts at once, whose only task is
/// the switch (no stop or start steps, no health checks, no hooks).
pub(super) fn goal(plan: &Plan) -> Option<ReleaseId> {
    let mut tasks = plan.phases.iter().filter(|p| p.phase != Phase::Build).flat_map(|p| &p.tasks);
    let only_switch = tasks.next().is_some_and(|t| matches!(t.action, Action::Switch)) && tasks.next().is_none();
    match (&plan.kind, &plan.release, &plan.rollout) {
        (PlanKind::Rollback, ReleaseChoice::Given { id }, RolloutPlan::Fleet) if only_switch => {
            ReleaseId::parse(id).ok()
        }
        _ => None,
    }
}

impl Engine {
    /// Rolls `apps` (the plan's hosts, in order) back to `goal` in one round
    /// trip each. `None` when some host could not switch: the hosts that
    /// did were switched back, no lock of this run is left, and the caller
    /// rolls back the usual way.
    pub(super) async fn rollback_one_trip(
        &self,
        plan: &Plan,
        apps: &[HostApp],
        goal: &ReleaseId,
        command: String,
        t0: Instant,
    ) -> Option<Result<DeployReport, DeployError>> {
        let info = LockInfo::new(self.who.holder.clone(), &self.who.user, command);
        let event = self.event(EventKind::Rollback, &plan.env, None, Some(goal.to_string()));
        let label = Action::Switch.label();
        self.observer.progress(Progress::Work(apps.len()));
        self.observer.progress(Progress::Phase(Phase::Switch));
        let results = each(apps.to_vec(), self.parallel, |a| {
            let (info, event, label) = (&info, &event, &label);
            async move {
                let t = Instant::now();
                self.observer.progress(Progress::Started { host: Some(a.host()), label });
                let r = a.lock_switch(info, goal, None, event).await;
                let ok = matches!(r, Ok(LockSwitch::Switched { .. } | LockSwitch::Unchanged { .. }));
                self.observer.progress(Progress::Finished { host: Some(a.host()), label, ok, elapsed: t.elapsed() });
                r
            }
        })
        .await;

        let mut runs = Vec::new();
        let mut locked = Vec::new(); // hosts whose lock this run still holds
        let mut blocked = Vec::new(); // why hosts could not switch
        for ((app, target), r) in apps.iter().zip(&plan.hosts).zip(results) {
            let mut before = HostState::default();
            let mut moved = None;
            let mut error = None;
            match r {
                Ok(LockSwitch::Held(theirs)) => blocked.push(format!("{}: locked: {}", app.host(), theirs.describe())),
                Ok(LockSwitch::Refused { why, unlocked }) => {
                    blocked.push(format!("{}: {why}", app.host()));
                    if !unlocked {
                        locked.push(app.clone());
                    }
                }
                Ok(LockSwitch::Unchanged { unlocked }) => {
                    before.current = Some(goal.to_string());
                    if !unlocked {
                        locked.push(app.clone());
                    }
                }
                Ok(LockSwitch::Switched { from, unlocked }) => {
                    before.current = Some(from.into_string());
                    moved = Some(Move::Switch);
                    if !unlocked {
                        locked.push(app.clone());
                    }
                }
                Err(e) => {
                    moved = e.switch_may_have_moved().then_some(Move::SwitchLost);
                    error = Some(Arc::new(TaskError {
                        host: Some(app.host().to_string()),
                        phase: Phase::Switch,
                        failure: TaskFailure::Host(e),
                    }));
                    locked.push(app.clone());
                }
            }
            let mut run = HostRun::new(app.clone(), target.clone(), before, goal.clone());
            run.reached = Phase::Switch;
            if let Some(m) = moved
                && let Err(illegal) = run.advance(m)
            {
                self.observer.progress(Progress::Warn(&format!("{}: {illegal}", run.target.name)));
            }
            run.error = error;
            runs.push(run);
        }

        if !blocked.is_empty() {
            self.undo_one_trip(plan, &runs, &info, &mut locked).await;
            self.unlock_all(&locked, &info.token).await;
            self.observer.progress(Progress::Note(&format!(
                "not every host could switch at once ({}); rolling back the usual way",
                blocked.join("; ")
            )));
            return None;
        }
        self.unlock_all(&locked, &info.token).await;
        let release = Some(goal.to_string());
        if runs.iter().all(HostRun::unchanged) {
            let msg = format!("{goal} is already live on every host");
            self.observer.progress(Progress::Note(&msg));
            return Some(Ok(self.report(plan, &runs, release, true, Some(msg), t0)));
        }
        let failed: Vec<String> = runs.iter().filter_map(|r| r.error.as_ref().map(ToString::to_string)).collect();
        if failed.is_empty() {
            return Some(Ok(self.report(plan, &runs, release, true, None, t0)));
        }
        let msg = format!("{}\nhalted (failure policy: halt); hosts are left as they are", failed.join("\n"));
        Some(Err(DeployError::Failed(Box::new(self.report(plan, &runs, release, false, Some(msg), t0)))))
    }

    /// Switches every host this run switched back to what it ran before,
    /// in one round trip each, and only where it still runs the run's
    /// release; a host that cannot be is named. A host whose lock the
    /// switch back could not release is added to `locked`.
    async fn undo_one_trip(&self, plan: &Plan, runs: &[HostRun], info: &LockInfo, locked: &mut Vec<HostApp>) {
        let back: Vec<&HostRun> = runs.iter().filter(|r| r.error.is_none() && r.state.may_have_switched()).collect();
        let results = each(back.clone(), self.parallel, |r| async move {
            let Some(from) = r.before.as_deref().and_then(|b| ReleaseId::parse(b).ok()) else {
                return Err("nothing was live before".to_string());
            };
            let event = haul_host::Event {
                reason: Some("undone: the rollback could not be made on every host at once".into()),
                ..self.event(EventKind::Rollback, &plan.env, None, Some(from.to_string()))
            };
            r.app.lock_switch(info, &from, Some(&r.goal), &event).await.map_err(|e| e.to_string())
        })
        .await;
        for (r, result) in back.into_iter().zip(results) {
            let host = &r.target.name;
            let why = match result {
                Ok(LockSwitch::Switched { unlocked, .. } | LockSwitch::Unchanged { unlocked }) => {
                    if !unlocked {
                        locked.push(r.app.clone());
                    }
                    continue;
                }
                Ok(LockSwitch::Refused { why, unlocked }) => {
                    if !unlocked {
                        locked.push(r.app.clone());
                    }
                    why
                }
                Ok(LockSwitch::Held(theirs)) => format!("locked: {}", theirs.describe()),
                Err(e) => {
                    locked.push(r.app.clone());
                    e
                }
            };
            let before = r.before.as_deref().unwrap_or("nothing");
            self.observer.progress(Progress::Warn(&format!(
                "{host}: switched to {} but could not be switched back to {before}: {why}",
                r.goal
            )));
        }
    }
}

//! The rollout: phase by phase with a barrier between tasks, the switch and
//! verify phases fleet-wide or batch by batch, and the failure policy when a
//! task fails.

use crate::engine::humanize;
use crate::engine::locks::Held;
use crate::engine::run::{Locked, Unlocked};
use crate::engine::state::HostRun;
use crate::plan::{Action, On, Plan, PlanKind, PlanPhase, RolloutPlan};
use crate::report::DeployReport;
use crate::secrets::SecretValue;
use crate::{DeployError, Engine, Phase, Progress};
use haul_config::FailurePolicy;
use haul_release::Release;
use std::time::Instant;

/// What every phase of one run shares.
pub(super) struct RunCx<'a> {
    pub plan: &'a Plan,
    pub release: Option<&'a Release>,
    /// The secret files' values, read before the hosts were locked.
    pub secrets: &'a [SecretValue],
    pub release_id: Option<String>,
    pub t0: Instant,
    /// The token of the run's locks: every switch on a host is made only
    /// while this token holds its lock.
    pub token: &'a str,
    /// Set when the switch is the last thing the run does on a host: the
    /// switch then releases the host's lock in the same round trip.
    pub unlock_at_switch: Option<UnlockAtSwitch<'a>>,
    /// The locks held by open sessions, by host: a host's switch goes
    /// through its session when it has one.
    pub held: &'a Held,
}

/// How a switch that is the last thing a run does on a host releases its
/// lock: in the session holding it, where there is one, else by the run's
/// token; either way the host goes into `unlocked`.
#[derive(Clone, Copy)]
pub(super) struct UnlockAtSwitch<'a> {
    pub unlocked: &'a Unlocked,
}

/// Whether the run switches any host.
pub(super) fn switches(plan: &Plan) -> bool {
    plan.phases.iter().flat_map(|p| &p.tasks).any(|t| matches!(t.action, Action::Switch))
}

/// Whether the switch may release each host's lock itself: in a rollback
/// (whose failure policy is always `halt`, so no host is ever switched
/// back), all at once, with no task after the switch.
pub(super) fn unlocks_at_switch(plan: &Plan) -> bool {
    let mut tasks = plan.phases.iter().filter(|p| p.phase != Phase::Build).flat_map(|p| &p.tasks);
    plan.kind == PlanKind::Rollback
        && matches!(plan.rollout, RolloutPlan::Fleet)
        && tasks.by_ref().any(|t| matches!(t.action, Action::Switch))
        && tasks.next().is_none()
}

impl Engine {
    /// The run once every host is locked.
    pub(super) async fn run_locked(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        secrets: &[SecretValue],
        locked: Locked<'_>,
        t0: Instant,
    ) -> Result<DeployReport, DeployError> {
        let token = locked.token;
        let mut runs = self.host_runs(plan, release, locked.apps, locked.states)?;
        let release_id = release.map(|r| r.id.clone()).or_else(|| runs.first().map(|r| r.goal.to_string()));
        if runs.iter().all(HostRun::unchanged) {
            let msg = format!("{} is already live on every host", release_id.clone().unwrap_or_default());
            self.observer.progress(Progress::Note(&msg));
            return Ok(self.report(plan, &runs, release_id, true, Some(msg), t0));
        }

        let work: usize = plan
            .phases
            .iter()
            .filter(|p| p.phase != Phase::Build)
            .flat_map(|p| &p.tasks)
            .map(|t| match &t.on {
                On::Local => 1,
                On::Hosts(h) => runs.iter().filter(|r| r.active() && h.contains(&r.target.name)).count(),
            })
            .sum();
        self.observer.progress(Progress::Work(work));
        let (early, late): (Vec<&PlanPhase>, Vec<&PlanPhase>) =
            plan.phases.iter().filter(|p| p.phase != Phase::Build).partition(|p| p.phase < Phase::Switch);
        let unlock_at_switch = unlocks_at_switch(plan).then_some(UnlockAtSwitch { unlocked: locked.unlocked });
        let cx = RunCx {
            plan,
            release,
            secrets,
            release_id: release_id.clone(),
            t0,
            token,
            unlock_at_switch,
            held: locked.held,
        };
        for phase in early {
            self.run_phase(&cx, &mut runs, phase, None).await?;
        }
        match &plan.rollout {
            RolloutPlan::Fleet => {
                for phase in &late {
                    self.run_phase(&cx, &mut runs, phase, None).await?;
                }
            }
            RolloutPlan::Rolling { batches, pause_ms } => {
                for (i, batch) in batches.iter().enumerate() {
                    if i > 0
                        && let Some(ms) = pause_ms
                    {
                        let pause = std::time::Duration::from_millis(*ms);
                        self.observer
                            .progress(Progress::Note(&format!("pausing {} before the next batch", humanize(pause))));
                        self.pause(pause).await;
                    }
                    let label = format!("batch {} of {}: {}", i + 1, batches.len(), batch.join(", "));
                    self.observer.progress(Progress::Note(&label));
                    for phase in &late {
                        self.run_phase(&cx, &mut runs, phase, Some(batch)).await?;
                    }
                }
            }
        }
        if plan.kind == PlanKind::Deploy {
            self.prune_after(plan, &runs, token).await;
        }
        let ok = runs.iter().all(|r| r.error.is_none());
        let msg = (!ok).then(|| "some hosts failed (failure policy: continue)".to_string());
        let report = self.report(plan, &runs, release_id, ok, msg, t0);
        if ok { Ok(report) } else { Err(DeployError::Failed(Box::new(report))) }
    }

    /// Waits `d`, waking early when interrupted.
    async fn pause(&self, d: std::time::Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.interrupted() {
            tokio::time::sleep((end - Instant::now()).min(std::time::Duration::from_millis(100))).await;
        }
    }

    /// Runs one phase's tasks on the hosts (of `batch`, when rolling), each
    /// task on every host before the next, and applies the failure policy.
    async fn run_phase(
        &self,
        cx: &RunCx<'_>,
        runs: &mut [HostRun],
        phase: &PlanPhase,
        batch: Option<&[String]>,
    ) -> Result<(), DeployError> {
        let in_batch = |name: &String| batch.is_none_or(|b| b.contains(name));
        let plan = cx.plan;
        self.observer.progress(Progress::Phase(phase.phase));
        for r in runs.iter_mut().filter(|r| r.active() && in_batch(&r.target.name)) {
            r.reached = phase.phase;
        }
        for task in &phase.tasks {
            let on = match &task.on {
                On::Hosts(h) => On::Hosts(h.iter().filter(|n| in_batch(n)).cloned().collect()),
                On::Local => On::Local,
            };
            let msg = if self.interrupted() {
                self.interrupt(runs, phase.phase);
                "interrupted".to_string()
            } else {
                let failed = self.run_task(cx, runs, phase.phase, &task.action, &on).await;
                if failed.is_empty() {
                    continue;
                }
                failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            };
            let fail = |runs: &[HostRun], message: String| {
                let report = self.report(plan, runs, cx.release_id.clone(), false, Some(message), cx.t0);
                Err(DeployError::Failed(Box::new(report)))
            };
            if phase.phase < Phase::Switch {
                return Err(self.abort_before_switch(plan, runs, phase.phase, msg, cx.t0, cx.token).await);
            }
            let policy = match plan.kind {
                // A rollback never triggers another rollback.
                PlanKind::Rollback => FailurePolicy::Halt,
                PlanKind::Deploy => plan.failure,
            };
            match policy {
                FailurePolicy::Continue => {
                    self.observer.progress(Progress::Warn(&format!("{msg}\ncontinuing (failure policy: continue)")));
                    if !runs.iter().any(HostRun::active) {
                        return fail(runs, format!("{} failed on every host", phase.phase));
                    }
                }
                FailurePolicy::Halt => {
                    return fail(runs, format!("{msg}\nhalted (failure policy: halt); hosts are left as they are"));
                }
                FailurePolicy::Rollback => {
                    self.observer.progress(Progress::Warn(&format!(
                        "{msg}\nswitching every host back (failure policy: rollback)"
                    )));
                    let back = self.switch_back(plan, runs, cx.token).await;
                    return fail(runs, format!("{msg}\n{back}"));
                }
            }
        }
        Ok(())
    }
}

//! Undoing a run that failed: before the switch, removing the half-staged
//! release (nothing was switched, so nothing else to undo); at or after it,
//! switching every host the run touched back to what it ran before.

use crate::engine::errors::{NoWayBack, RecoveryNote, TaskFailure};
use crate::engine::state::{HostRun, Move, RunState};
use crate::engine::tasks::run_checked;
use crate::fanout::each;
use crate::plan::Plan;
use crate::{DeployError, Engine, Phase, Progress};
use haul_host::EventKind;
use std::time::Instant;

impl Engine {
    pub(super) async fn abort_before_switch(
        &self,
        plan: &Plan,
        runs: &mut [HostRun],
        phase: Phase,
        msg: String,
        t0: Instant,
        token: &str,
    ) -> DeployError {
        let staged: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.stage.as_ref().is_some_and(|s| !s.already) || (r.reached == Phase::Stage && !r.unchanged())
            })
            // What another run staged (its stage refused with that) is its own.
            .filter(|(_, r)| {
                !r.error
                    .as_ref()
                    .is_some_and(|e| matches!(&e.failure, TaskFailure::Host(h) if h.staged_by_another_run()))
            })
            .map(|(i, _)| i)
            .collect();
        let view: &[HostRun] = runs;
        let results =
            each(staged, self.parallel, |i| async move { view[i].app.discard_incomplete(&view[i].goal, token).await })
                .await;
        for r in results {
            if let Err(e) = r {
                self.observer.progress(Progress::Warn(&format!("could not remove a half-staged release: {e}")));
            }
        }
        let release = runs.first().map(|r| r.goal.to_string());
        let report = self.report(
            plan,
            runs,
            release,
            false,
            Some(format!("{msg}\n{phase} failed: no host was switched; every host still runs what it ran before")),
            t0,
        );
        DeployError::Failed(Box::new(report))
    }

    /// Puts every host the run touched back on what it ran before: a host
    /// that switched (or may have: its connection was lost mid-switch) is
    /// switched back, a host that was only stopped is started again.
    pub(super) async fn switch_back(&self, plan: &Plan, runs: &mut [HostRun], token: &str) -> String {
        let svc = &self.config.app(&plan.app).expect("planned app exists").service;
        let (stop, start) = if svc.stop.is_empty() && svc.start.is_empty() {
            (vec![], svc.refresh.clone())
        } else {
            (svc.stop.clone(), svc.start.clone())
        };
        let chosen: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.state, RunState::Switched | RunState::SwitchUnknown | RunState::Stopped))
            .map(|(i, _)| i)
            .collect();
        let view: &[HostRun] = runs;
        let results = each(chosen.clone(), self.parallel, |i| {
            let run = &view[i];
            let (stop, start) = (&stop, &start);
            async move {
                let host = || run.target.name.clone();
                // The environment's last verified release when the host has
                // it, else what the host ran before, unless that is
                // quarantined: then the newest before it that is not.
                let quarantined = run.before.as_ref().filter(|b| plan.quarantined.contains(b));
                let further = quarantined.and_then(|b| {
                    let mut allowed = run.host.complete();
                    allowed.retain(|r| *r != *run.goal && !plan.quarantined.contains(r));
                    haul_host::rollback_target(&run.host.history, b, &allowed)
                });
                let back_to = plan
                    .fallback
                    .as_ref()
                    .filter(|f| f.as_str() != run.goal.as_str() && run.host.has_complete(f))
                    .or(run.before.as_ref().filter(|_| quarantined.is_none()))
                    .or(further.as_ref());
                let env = self.step_env(plan, Some(run), back_to.map(String::as_str));
                let current = format!("{}/current", run.app.dir());
                let mut notes = Vec::new();
                let mut moved = None;
                if run.state != RunState::Stopped {
                    let Some(before) = back_to else {
                        let why = match quarantined {
                            Some(q) => NoWayBack::Quarantined(q.clone()),
                            None => NoWayBack::NothingBefore,
                        };
                        let left_on = run.live();
                        return (None, vec![RecoveryNote::NowhereBack { host: host(), why, left_on }]);
                    };
                    for s in stop.iter().filter(|s| !s.local) {
                        if let Err(error) = run_checked(&run.app, &s.run, &current, &env).await {
                            notes.push(RecoveryNote::Stop { host: host(), error });
                        }
                    }
                    let event =
                        self.event(EventKind::Switchback, &plan.env, Some(run.goal.to_string()), Some(before.clone()));
                    let switched = match haul_release::ReleaseId::parse(before) {
                        Ok(to) => run.app.switch(&to, &event, token).await,
                        Err(source) => Err(haul_host::HostError::Release { host: host(), source }),
                    };
                    match switched {
                        Ok(()) => moved = Some(Move::SwitchBack(before.clone())),
                        Err(error) => {
                            let lost = error.switch_may_have_moved();
                            notes.push(RecoveryNote::Switch { host: host(), error });
                            return (lost.then_some(Move::BackLost), notes);
                        }
                    }
                }
                for s in start.iter().filter(|s| !s.local) {
                    if let Err(error) = run_checked(&run.app, &s.run, &current, &env).await {
                        notes.push(RecoveryNote::Start { host: host(), error });
                    }
                }
                (moved, notes)
            }
        })
        .await;
        let mut lines = Vec::new();
        for (i, (moved, notes)) in chosen.into_iter().zip(results) {
            let run = &mut runs[i];
            if let Some(m) = moved {
                let to = match &m {
                    Move::SwitchBack(to) => Some(to.clone()),
                    _ => None,
                };
                match run.advance(m) {
                    Err(error) => {
                        lines.push(RecoveryNote::Illegal { host: run.target.name.clone(), error }.to_string())
                    }
                    Ok(()) => {
                        if let Some(to) = to {
                            lines.push(format!("{}: switched back to {to}", run.target.name));
                        }
                    }
                }
            }
            lines.extend(notes.iter().map(ToString::to_string));
        }
        if lines.is_empty() { "no host had been switched".into() } else { lines.join("\n") }
    }
}

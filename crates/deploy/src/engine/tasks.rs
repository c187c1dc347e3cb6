//! Task dispatch: one task, locally once or on each of its hosts in
//! parallel, and what it changed on each host.

use crate::engine::errors::{StepFailed, TaskError, TaskFailure};
use crate::engine::rollout::RunCx;
use crate::engine::state::{HostRun, Move};
use crate::fanout::each;
use crate::plan::{Action, On, Plan, PlanKind};
use crate::{Engine, Phase, Progress, build, health};
use haul_host::{EventKind, HostApp, StageReport};
use haul_transport::{LineSink, Stream};
use std::sync::Arc;
use std::time::Instant;

/// What a host task changed.
enum Effect {
    None,
    Staged(StageReport),
    /// Secret files written: paths and keyed digests.
    Secrets(Vec<(String, String)>),
    Moved(Move),
}

/// How a failed task moved its host: only a switch that lost its connection
/// or failed after its rename may have moved `current` (a host that refused
/// before the rename did not).
pub(super) fn moved_by_failure(action: &Action, failure: &TaskFailure) -> Option<Move> {
    (matches!(action, Action::Switch) && failure.switch_may_have_moved()).then_some(Move::SwitchLost)
}

impl Engine {
    /// Marks every host still going as interrupted.
    pub(super) fn interrupt(&self, runs: &mut [HostRun], phase: Phase) {
        for r in runs.iter_mut().filter(|r| r.active()) {
            let e = TaskError { host: Some(r.target.name.clone()), phase, failure: TaskFailure::Interrupted };
            r.error = Some(Arc::new(e));
        }
    }

    /// Runs one task on its hosts; returns the failures.
    pub(super) async fn run_task(
        &self,
        cx: &RunCx<'_>,
        runs: &mut [HostRun],
        phase: Phase,
        action: &Action,
        on: &On,
    ) -> Vec<Arc<TaskError>> {
        let label = action.label();
        let names = match on {
            On::Local => {
                let t = Instant::now();
                self.observer.progress(Progress::Started { host: None, label: &label });
                let result = self.local_task(cx, runs, action).await;
                self.observer.progress(Progress::Finished {
                    host: None,
                    label: &label,
                    ok: result.is_ok(),
                    elapsed: t.elapsed(),
                });
                return match result {
                    Ok(()) => vec![],
                    Err(failure) => vec![Arc::new(TaskError { host: None, phase, failure })],
                };
            }
            On::Hosts(names) => names,
        };
        let chosen: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.active() && names.contains(&r.target.name))
            .map(|(i, _)| i)
            .collect();
        let view: &[HostRun] = runs;
        let results = each(chosen.clone(), self.parallel, |i| {
            let run = &view[i];
            let label = &label;
            async move {
                let t = Instant::now();
                self.observer.progress(Progress::Started { host: Some(&run.target.name), label });
                let r = self.host_task(cx, run, action).await;
                self.observer.progress(Progress::Finished {
                    host: Some(&run.target.name),
                    label,
                    ok: r.is_ok(),
                    elapsed: t.elapsed(),
                });
                r
            }
        })
        .await;
        let mut failed = Vec::new();
        for (i, r) in chosen.into_iter().zip(results) {
            let run = &mut runs[i];
            let failure = match r {
                Ok(Effect::None) => continue,
                Ok(Effect::Staged(s)) => {
                    run.stage = Some(s);
                    continue;
                }
                Ok(Effect::Secrets(s)) => {
                    run.secrets = s;
                    continue;
                }
                Ok(Effect::Moved(m)) => match run.advance(m) {
                    Ok(()) => continue,
                    Err(illegal) => TaskFailure::Illegal(illegal),
                },
                Err(failure) => {
                    if let Some(m) = moved_by_failure(action, &failure)
                        && let Err(illegal) = run.advance(m)
                    {
                        self.observer.progress(Progress::Warn(&format!("{}: {illegal}", run.target.name)));
                    }
                    failure
                }
            };
            let e = Arc::new(TaskError { host: Some(run.target.name.clone()), phase, failure });
            failed.push(e.clone());
            run.error = Some(e);
        }
        failed
    }

    /// The variables a step sees: about the run, and about its host when it
    /// runs on one (else the list of hosts).
    pub(super) fn step_env(&self, plan: &Plan, run: Option<&HostRun>, goal: Option<&str>) -> Vec<(String, String)> {
        let mut env = vec![
            ("HAUL_APP".to_string(), plan.app.clone()),
            ("HAUL_ENV".to_string(), plan.env.clone()),
            ("HAUL_RELEASE".to_string(), goal.unwrap_or_default().to_string()),
        ];
        match run {
            Some(r) => {
                env.push(("HAUL_RELEASE_DIR".into(), r.app.release_dir(&r.goal)));
                env.push(("HAUL_PREVIOUS_RELEASE".into(), r.before.clone().unwrap_or_default()));
                env.push(("HAUL_HOST".into(), r.target.name.clone()));
                env.push(("HAUL_ROLES".into(), r.target.roles.join(",")));
            }
            None => {
                let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
                env.push(("HAUL_HOSTS".into(), hosts.join(",")));
            }
        }
        env
    }

    fn sink(&self, host: &str) -> LineSink {
        let obs = self.observer.clone();
        let host = host.to_string();
        Arc::new(move |_: Stream, line: &str| obs.progress(Progress::Line { host: Some(&host), line }))
    }

    async fn local_task(&self, cx: &RunCx<'_>, runs: &[HostRun], action: &Action) -> Result<(), TaskFailure> {
        let (Action::Hook { step, .. } | Action::MigrateOnce { step, .. }) = action else {
            return Err(TaskFailure::Misplaced(action.label()));
        };
        if let (Action::MigrateOnce { when_changed, .. }, Some(run), Some(release)) = (action, runs.first(), cx.release)
            && !self.changed(run, release, when_changed).await?
        {
            return Ok(());
        }
        let goal = runs.first().map(|r| r.goal.as_str());
        let out = build::run_local(
            &self.config,
            &step.run,
            &self.config.dir,
            &self.step_env(cx.plan, None, goal),
            &self.observer,
        )
        .await
        .map_err(|e| TaskFailure::Local(Box::new(e)))?;
        Ok(StepFailed::check(&action.label(), out)?)
    }

    async fn host_task(&self, cx: &RunCx<'_>, run: &HostRun, action: &Action) -> Result<Effect, TaskFailure> {
        let plan = cx.plan;
        let env = self.step_env(plan, Some(run), Some(&run.goal));
        let app = &run.app;
        let release_dir = app.release_dir(&run.goal);
        let current = format!("{}/current", app.dir());
        let already = run.stage.as_ref().is_some_and(|s| s.already);
        let step = |cmd: String, cwd: String| {
            let env = env.clone();
            let label = action.label();
            async move {
                let out = app.run_step(&cmd, &cwd, &env, Some(self.sink(app.host()))).await?;
                StepFailed::check(&label, out)?;
                Ok(Effect::None)
            }
        };
        match action {
            Action::Upload { shared, complete } => {
                let release = cx.release.expect("a deploy has a release");
                Ok(Effect::Staged(self.upload(run, release, shared, *complete, cx.token).await?))
            }
            Action::PostUpload { step: s } => {
                if already {
                    return Ok(Effect::None);
                }
                step(s.run.clone(), release_dir).await
            }
            Action::MigrateOnce { step: s, when_changed } | Action::MigratePerHost { step: s, when_changed } => {
                if let Some(release) = cx.release
                    && !self.changed(run, release, when_changed).await?
                {
                    return Ok(Effect::None);
                }
                step(s.run.clone(), release_dir).await
            }
            Action::Complete => {
                if already {
                    return Ok(Effect::None);
                }
                app.complete(&run.goal, cx.token).await?;
                Ok(Effect::None)
            }
            Action::Secrets { .. } => {
                let mut written = Vec::new();
                for secret in cx.secrets {
                    secret.write(app, cx.token).await?;
                    if let Some(key) = &self.secret_key {
                        written.push((secret.secret.path.clone(), secret.digest(key, &plan.app, &plan.env)));
                    }
                }
                Ok(Effect::Secrets(written))
            }
            Action::Hook { step: s, .. } => step(s.run.clone(), app.dir().to_string()).await,
            Action::Stop { step: s } => {
                if run.before.is_none() {
                    return Ok(Effect::None); // nothing was running
                }
                step(s.run.clone(), current).await.map(|_| Effect::Moved(Move::Stop))
            }
            Action::Switch => {
                let kind = match plan.kind {
                    PlanKind::Deploy => EventKind::Deploy,
                    PlanKind::Rollback => EventKind::Rollback,
                };
                let event = self.event(kind, &plan.env, run.before.clone(), Some(run.goal.to_string()));
                let held = cx.held.lock().unwrap_or_else(|p| p.into_inner()).remove(app.host());
                match (cx.unlock_at_switch, held) {
                    (Some(u), held) => {
                        let released = match held {
                            Some(held) => held.switch_unlock(&run.goal, &event).await?,
                            None => app.switch_unlock(&run.goal, &event, cx.token).await?,
                        };
                        if released {
                            u.unlocked.lock().unwrap_or_else(|p| p.into_inner()).insert(app.host().to_string());
                        }
                    }
                    (None, Some(mut held)) => match held.switch(&run.goal, &event).await {
                        Ok(()) => {
                            cx.held.lock().unwrap_or_else(|p| p.into_inner()).insert(app.host().to_string(), held);
                        }
                        // The session is gone (its script killed, say), not
                        // the lock, which stays for the run's unlock: a new
                        // session switches, again if the lost one had (the
                        // switch is idempotent; the history then says so
                        // twice). A host that cannot be reached fails here.
                        // The lost session may have switched before it went,
                        // so whatever the new one says (even a refusal, the
                        // lock cleared meanwhile), `current` may have moved.
                        Err(haul_host::HostError::Transport(lost)) => {
                            if let Err(e) = app.switch(&run.goal, &event, cx.token).await {
                                let message = format!("{}; switching through a new session failed: {e}", lost.message);
                                let lost = haul_transport::TransportError { message, ..lost };
                                return Err(haul_host::HostError::Transport(lost).into());
                            }
                        }
                        Err(e) => return Err(e.into()),
                    },
                    (None, None) => app.switch(&run.goal, &event, cx.token).await?,
                }
                Ok(Effect::Moved(Move::Switch))
            }
            Action::Start { step: s } | Action::Refresh { step: s } => step(s.run.clone(), current).await,
            Action::Health { check } => {
                health::check_host(check, app, &run.target.address, &env).await?;
                Ok(Effect::None)
            }
            Action::Build { .. } | Action::Pack { .. } => Err(TaskFailure::Misplaced(action.label())),
        }
    }
}

/// Runs a user's step on `app` in `cwd`; a step that ran and failed is
/// [`StepFailed`].
pub(super) async fn run_checked(
    app: &HostApp,
    cmd: &str,
    cwd: &str,
    env: &[(String, String)],
) -> Result<(), crate::engine::StepError> {
    let out = app.run_step(cmd, cwd, env, None).await?;
    Ok(StepFailed::check(cmd, out)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_host::HostError;
    use haul_transport::TransportError;

    #[test]
    fn only_a_switch_that_refused_before_its_rename_counts_as_not_switched() {
        let lost =
            || TaskFailure::Host(HostError::Transport(TransportError { host: "h1".into(), message: "x".into() }));
        let exit = |code| {
            TaskFailure::Host(HostError::Script { host: "h1".into(), what: "switch".into(), code, output: "".into() })
        };
        let refused = || exit(Some(4));
        assert_eq!(moved_by_failure(&Action::Switch, &lost()), Some(Move::SwitchLost));
        assert_eq!(moved_by_failure(&Action::Switch, &refused()), None, "a host that refused did not switch");
        assert_eq!(moved_by_failure(&Action::Complete, &lost()), None, "only the switch moves `current`");
        for code in [Some(6), Some(1), Some(2), None] {
            assert_eq!(moved_by_failure(&Action::Switch, &exit(code)), Some(Move::SwitchLost), "exit {code:?}");
        }
    }
}

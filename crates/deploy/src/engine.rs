//! The executor: runs plans against hosts, and the commands that inspect or
//! tidy hosts (status, prune, remove, unlock, exec).
//!
//! Invariants it keeps:
//! - every host of a run is locked before anything changes and unlocked after,
//!   whatever happens;
//! - each task runs on every host before the next task starts (a barrier), so
//!   no host is switched until every host has staged;
//! - a failure before the switch leaves `current` untouched everywhere and
//!   removes the half-staged release;
//! - a failure at or after the switch applies the failure policy to every
//!   host, and the report says where each host was left.

use crate::fanout::each;
use crate::plan::{Action, On, Phase, Plan, PlanKind, PlanPhase, ReleaseChoice, RolloutPlan};
use crate::report::{DeployReport, HostReport, HostStatus};
use crate::{DeployError, LockHeld, Observer, Progress, Whoami, build, health};
use haul_config::{Config, FailurePolicy, HostKeys, HostTarget, Reach};
use haul_host::{Event, EventKind, HostApp, HostState, LockInfo, LockOutcome, SharedPath, StageReport};
use haul_release::{Release, ReleaseCache};
use haul_transport::{Hop, LineSink, Local, Output, SshOptions, SshPool, SshTarget, Stream, Transport};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Runs plans and host commands for one config.
pub struct Engine {
    pub config: Arc<Config>,
    pub observer: Arc<dyn Observer>,
    /// Hosts worked on at once.
    pub parallel: usize,
    pub who: Whoami,
    /// Set (by a signal handler) to stop between tasks.
    pub interrupted: Arc<AtomicBool>,
    /// Leave hosts that cannot be reached out of a run instead of refusing it.
    pub skip_unreachable: bool,
    /// Why the run happens, recorded with it.
    pub reason: Option<String>,
    /// SSH connections of this run, made on first use.
    ssh: std::sync::OnceLock<Result<Arc<SshPool>, String>>,
    /// Release records read from the cache during this run, by id.
    records: std::sync::Mutex<std::collections::HashMap<String, Arc<Release>>>,
}

/// One host during a run.
struct Run {
    app: HostApp,
    target: HostTarget,
    state: HostState,
    /// Live release before the run.
    before: Option<String>,
    /// The release this host is switched to.
    goal: String,
    /// Already on `goal`: nothing to do.
    unchanged: bool,
    stage: Option<StageReport>,
    stopped: bool,
    switched: bool,
    switched_back: bool,
    /// Where a switch back went.
    back_to: Option<String>,
    /// A switch back whose connection was lost: it may or may not have
    /// happened, so the report claims nothing about what is live.
    live_unknown: bool,
    reached: Phase,
    error: Option<String>,
    started: Instant,
}

impl Run {
    fn active(&self) -> bool {
        !self.unchanged && self.error.is_none()
    }
}

/// What every phase of one run shares.
struct RunCx<'a> {
    plan: &'a Plan,
    release: Option<&'a Release>,
    release_id: Option<String>,
    t0: Instant,
}

/// What a host task changed.
enum Effect {
    None,
    Staged(StageReport),
    Stopped,
    Switched,
}

impl Engine {
    pub fn new(config: Config, observer: Arc<dyn Observer>, parallel: usize, who: Whoami) -> Engine {
        Engine {
            config: Arc::new(config),
            observer,
            parallel: parallel.max(1),
            who,
            interrupted: Arc::new(AtomicBool::new(false)),
            skip_unreachable: false,
            reason: None,
            ssh: std::sync::OnceLock::new(),
            records: Default::default(),
        }
    }

    fn ssh_pool(&self) -> Result<&Arc<SshPool>, DeployError> {
        self.ssh
            .get_or_init(|| {
                let targets: Vec<SshTarget> = self
                    .config
                    .hosts
                    .keys()
                    .map(|k| self.config.host_target(k.get_ref()))
                    .filter_map(|h| match h.reach {
                        Reach::Ssh { address, user, port, jump } => Some(SshTarget {
                            name: h.name,
                            address,
                            user,
                            port,
                            jump: jump
                                .into_iter()
                                .map(|j| Hop { key: j.key, address: j.address, user: j.user, port: j.port })
                                .collect(),
                        }),
                        Reach::Local => None,
                    })
                    .collect();
                let opts = SshOptions {
                    config: self.config.ssh_config_path(),
                    accept_new: self.config.ssh.host_keys == HostKeys::AcceptNew,
                    connect_timeout: self.config.ssh.connect_timeout.0,
                    persist: self.config.ssh.persist.0,
                };
                SshPool::new(&targets, opts).map_err(|e| format!("cannot prepare SSH connections: {e}"))
            })
            .as_ref()
            .map_err(|e| DeployError::Refused(e.clone()))
    }

    pub fn cache(&self) -> ReleaseCache {
        ReleaseCache::new(self.config.cache_dir())
    }

    /// The way to reach `target`, for `dir` on it.
    pub fn host_app(&self, target: &HostTarget, dir: String) -> Result<HostApp, DeployError> {
        let transport = match &target.reach {
            // A directory here stands in for a server, which would not hold
            // this machine's secrets: its scripts and steps do not see them.
            Reach::Local => {
                Transport::Local(Local::new(&target.name).without_env(crate::build::secret_vars(&self.config)))
            }
            Reach::Ssh { .. } => Transport::Ssh(self.ssh_pool()?.host(&target.name)),
        };
        Ok(HostApp::new(transport, dir))
    }

    fn unlock_hint(&self, app: &str, env: &str) -> String {
        format!("haul unlock {app} {env} --reason \"…\"")
    }

    /// Locks `app` on every host, or none of them. A lock whose holder is
    /// certainly dead (see [`haul_host::Holder::dead`]) is taken over, and
    /// the take-over recorded; any other lock is reported as held.
    pub(crate) async fn lock_all(
        &self,
        apps: &[HostApp],
        command: String,
        hint: String,
    ) -> Result<String, DeployError> {
        let me = &self.who.holder;
        let token = format!(
            "{}-{}-{}",
            me.machine,
            me.pid,
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        );
        let info = LockInfo {
            token: token.clone(),
            user: self.who.user.clone(),
            holder: me.clone(),
            since: jiff::Timestamp::now().to_string(),
            command,
        };
        let results = each(apps.to_vec(), self.parallel, |a| {
            let info = info.clone();
            async move {
                let theirs = match a.lock(&info).await? {
                    LockOutcome::Acquired => return Ok((LockOutcome::Acquired, None)),
                    LockOutcome::Held(theirs) => theirs,
                };
                // A lock of a process that is certainly gone protects
                // nothing: take it over (and say so).
                let Some(why) = theirs.holder.dead(&info.holder).filter(|_| !theirs.is_unreadable()) else {
                    return Ok((LockOutcome::Held(theirs), None));
                };
                let event = Event {
                    reason: Some(format!("taken over: {why} ({})", theirs.command)),
                    ..Event::now(EventKind::Unlock, &info.user)
                };
                let outcome = a.take_over(&theirs, &info, &event).await?;
                Ok::<_, haul_host::HostError>((outcome, Some(format!("{}: {why}", theirs.describe()))))
            }
        })
        .await;
        let mut held = Vec::new();
        let mut failure = None;
        let mut acquired = Vec::new();
        for (a, r) in apps.iter().zip(results) {
            match r {
                Ok((LockOutcome::Acquired, took_over)) => {
                    if let Some(what) = took_over {
                        self.observer
                            .progress(Progress::Warn(&format!("{}: took over a stale lock: {what}", a.host())));
                    }
                    acquired.push(a.clone());
                }
                Ok((LockOutcome::Held(theirs), _)) => {
                    let stale = self.staleness(&theirs);
                    held.push(LockHeld { host: a.host().to_string(), info: theirs, stale });
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if held.is_empty() && failure.is_none() {
            return Ok(token);
        }
        self.unlock_all(&acquired, &token).await;
        match failure {
            Some(e) => Err(e.into()),
            None => Err(DeployError::Locked(held, hint)),
        }
    }

    /// Why a held lock looks abandoned, if it does: its holder is certainly
    /// dead (and it changed hands meanwhile), it is older than
    /// `lock.stale_after`, or nobody can tell whose it is.
    fn staleness(&self, info: &LockInfo) -> Option<String> {
        if info.is_unreadable() {
            return Some("the lock file cannot be read, so nobody can tell whether its holder still runs".into());
        }
        if let Some(why) = info.holder.dead(&self.who.holder) {
            return Some(why);
        }
        let limit = self.config.lock.stale_after;
        match info.age() {
            Some(age) if age > limit.0 => {
                Some(format!("it was taken {} ago, longer than lock.stale_after ({limit})", humanize(age)))
            }
            _ => None,
        }
    }

    pub(crate) async fn unlock_all(&self, apps: &[HostApp], token: &str) {
        let results =
            each(apps.to_vec(), self.parallel, |a| async move { (a.host().to_string(), a.unlock(token).await) }).await;
        for (host, r) in results {
            if let Err(e) = r {
                self.observer.progress(Progress::Warn(&format!("{host}: could not release the lock: {e}")));
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Runs a deploy or rollback plan.
    pub async fn run(&self, plan: &Plan) -> Result<DeployReport, DeployError> {
        let t0 = Instant::now();
        let release = match (&plan.kind, &plan.release) {
            (PlanKind::Deploy, ReleaseChoice::Build) => Some(Arc::new(self.build_phase(plan).await?)),
            (PlanKind::Deploy, ReleaseChoice::Given { id }) => Some(self.cached(&plan.app, id)?),
            (PlanKind::Deploy, ReleaseChoice::Previous) => {
                return Err(DeployError::Refused("a deploy needs a release".into()));
            }
            (PlanKind::Rollback, _) => None,
        };
        if self.interrupted() {
            return Err(DeployError::Refused("interrupted before any host was touched".into()));
        }
        let apps = plan.hosts.iter().map(|h| self.host_app(h, plan.app_dir(h))).collect::<Result<Vec<_>, _>>()?;
        let (apps, skipped) = self.reachable(apps).await?;
        let mut plan = plan.clone();
        plan.hosts.retain(|h| !skipped.iter().any(|(s, _)| *s == h.name));
        let plan = &plan;
        let verb = match plan.kind {
            PlanKind::Deploy => "deploy",
            PlanKind::Rollback => "rollback",
        };
        let token = self
            .lock_all(&apps, format!("{verb} {} {}", plan.app, plan.env), self.unlock_hint(&plan.app, &plan.env))
            .await?;
        let mut result = self.run_locked(plan, release.as_deref(), apps.clone(), &token, t0).await;
        self.unlock_all(&apps, &token).await;
        let add = |r: &mut DeployReport| {
            for (host, why) in &skipped {
                r.hosts.push(HostReport {
                    host: host.clone(),
                    status: HostStatus::Skipped,
                    live: None,
                    before: None,
                    reached: Phase::Stage,
                    elapsed_ms: 0,
                    error: Some(why.clone()),
                    stage: None,
                });
            }
        };
        match &mut result {
            Ok(r) => add(r),
            Err(DeployError::Failed(r)) => add(r),
            Err(_) => {}
        }
        result
    }

    /// Connects to every host. A host that cannot be reached refuses the
    /// run, naming it, unless `skip_unreachable` leaves it out (returned with
    /// the reason).
    pub async fn reachable(&self, apps: Vec<HostApp>) -> Result<(Vec<HostApp>, Vec<(String, String)>), DeployError> {
        let results = each(apps.clone(), self.parallel, |a| async move {
            match a.transport() {
                Transport::Ssh(s) => s.connect().await.map_err(|e| e.message),
                Transport::Local(_) => Ok(()),
            }
        })
        .await;
        let mut ok = Vec::new();
        let mut down = Vec::new();
        for (a, r) in apps.into_iter().zip(results) {
            match r {
                Ok(()) => ok.push(a),
                Err(e) => down.push((a.host().to_string(), e)),
            }
        }
        if down.is_empty() {
            return Ok((ok, down));
        }
        let list: Vec<String> = down.iter().map(|(h, e)| format!("{h}: {e}")).collect();
        if !self.skip_unreachable {
            return Err(DeployError::Refused(format!(
                "cannot reach {} of {} hosts; nothing was changed:\n{}\n(pass --skip-unreachable to leave {} out)",
                down.len(),
                down.len() + ok.len(),
                list.join("\n"),
                if down.len() == 1 { "it" } else { "them" }
            )));
        }
        if ok.is_empty() {
            return Err(DeployError::Refused(format!("no host can be reached:\n{}", list.join("\n"))));
        }
        self.observer.progress(Progress::Warn(&format!("leaving out unreachable hosts:\n{}", list.join("\n"))));
        Ok((ok, down))
    }

    async fn build_phase(&self, plan: &Plan) -> Result<Release, DeployError> {
        self.observer.progress(Progress::Phase(Phase::Build));
        let env = vec![("HAUL_APP".to_string(), plan.app.clone()), ("HAUL_ENV".to_string(), plan.env.clone())];
        let phase = plan.phases.iter().find(|p| p.phase == Phase::Build).expect("build phase");
        for t in &phase.tasks {
            if self.interrupted() {
                return Err(DeployError::Refused("interrupted during the build".into()));
            }
            match &t.action {
                Action::Build { step, workdir } => {
                    build::run_build_step(&self.config, step, workdir, &env, &self.observer).await?
                }
                Action::Pack { tree } => {
                    return build::pack(&self.config, &plan.app, tree, &self.who, &self.observer).await;
                }
                _ => {}
            }
        }
        unreachable!("a build phase ends with pack")
    }

    async fn run_locked(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        apps: Vec<HostApp>,
        token: &str,
        t0: Instant,
    ) -> Result<DeployReport, DeployError> {
        let states = each(apps.clone(), self.parallel, |a| async move { a.inspect().await }).await;
        let mut runs = Vec::new();
        for ((app, target), state) in apps.into_iter().zip(plan.hosts.iter()).zip(states) {
            let state = state?;
            let before = state.current.clone();
            let goal = match (&plan.kind, release, &plan.release) {
                (PlanKind::Deploy, Some(r), _) => r.id.clone(),
                (_, _, ReleaseChoice::Given { id }) => {
                    if !state.has_complete(id) {
                        return Err(DeployError::Refused(format!(
                            "{}: release {id} is not on this host (releases there: {})",
                            target.name,
                            list(state.complete())
                        )));
                    }
                    id.clone()
                }
                _ => match state.rollback_target() {
                    Some(t) => t,
                    None => {
                        return Err(DeployError::Refused(format!(
                            "{}: no release to roll back to ({}); name one with --to",
                            target.name,
                            match &before {
                                None => "nothing is live".to_string(),
                                Some(c) => format!("{c} is live and nothing was live before it"),
                            }
                        )));
                    }
                },
            };
            runs.push(Run {
                unchanged: before.as_deref() == Some(goal.as_str()),
                app,
                target: target.clone(),
                state,
                before,
                goal,
                stage: None,
                stopped: false,
                switched: false,
                switched_back: false,
                back_to: None,
                live_unknown: false,
                reached: Phase::Stage,
                error: None,
                started: Instant::now(),
            });
        }
        if plan.kind == PlanKind::Rollback && matches!(plan.release, ReleaseChoice::Previous) {
            let goals: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.goal.as_str()).collect();
            if goals.len() > 1 {
                let detail: Vec<String> = runs.iter().map(|r| format!("{} → {}", r.target.name, r.goal)).collect();
                return Err(DeployError::Refused(format!(
                    "hosts would roll back to different releases ({}); choose one with --to",
                    detail.join(", ")
                )));
            }
        }
        let release_id = release.map(|r| r.id.clone()).or_else(|| runs.first().map(|r| r.goal.clone()));
        if runs.iter().all(|r| r.unchanged) {
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
        let cx = RunCx { plan, release, release_id: release_id.clone(), t0 };
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
        runs: &mut [Run],
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
            let failed = if self.interrupted() {
                for r in runs.iter_mut().filter(|r| r.active()) {
                    r.error = Some("interrupted".into());
                }
                vec!["interrupted".to_string()]
            } else {
                self.run_task(plan, cx.release, runs, &task.action, &on).await
            };
            if failed.is_empty() {
                continue;
            }
            let msg = failed.join("\n");
            let fail = |runs: &[Run], message: String| {
                let report = self.report(plan, runs, cx.release_id.clone(), false, Some(message), cx.t0);
                Err(DeployError::Failed(Box::new(report)))
            };
            if phase.phase < Phase::Switch {
                return Err(self.abort_before_switch(plan, runs, phase.phase, msg, cx.t0).await);
            }
            let policy = match plan.kind {
                // A rollback never triggers another rollback.
                PlanKind::Rollback => FailurePolicy::Halt,
                PlanKind::Deploy => plan.failure,
            };
            match policy {
                FailurePolicy::Continue => {
                    self.observer.progress(Progress::Warn(&format!("{msg}\ncontinuing (failure policy: continue)")));
                    if !runs.iter().any(Run::active) {
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
                    let back = self.switch_back(plan, runs).await;
                    return fail(runs, format!("{msg}\n{back}"));
                }
            }
        }
        Ok(())
    }

    /// Runs one task on its hosts; returns the failures.
    async fn run_task(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        runs: &mut [Run],
        action: &Action,
        on: &On,
    ) -> Vec<String> {
        let label = action.label();
        let names = match on {
            On::Local => {
                let t = Instant::now();
                self.observer.progress(Progress::Started { host: None, label: &label });
                let result = self.local_task(plan, release, runs, action).await;
                self.observer.progress(Progress::Finished {
                    host: None,
                    label: &label,
                    ok: result.is_ok(),
                    elapsed: t.elapsed(),
                });
                return match result {
                    Ok(()) => vec![],
                    Err(e) => vec![format!("local: {e}")],
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
        let view: &[Run] = runs;
        let results = each(chosen.clone(), self.parallel, |i| {
            let run = &view[i];
            let label = &label;
            async move {
                let t = Instant::now();
                self.observer.progress(Progress::Started { host: Some(&run.target.name), label });
                let r = self.host_task(plan, release, run, action).await;
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
            match r {
                Ok(Effect::None) => {}
                Ok(Effect::Staged(s)) => run.stage = Some(s),
                Ok(Effect::Stopped) => run.stopped = true,
                Ok(Effect::Switched) => run.switched = true,
                Err(e) => {
                    let e = if e.starts_with(&format!("{}:", run.target.name)) {
                        e
                    } else {
                        format!("{}: {e}", run.target.name)
                    };
                    failed.push(e.clone());
                    run.error = Some(e);
                }
            }
        }
        failed
    }

    fn step_env(&self, plan: &Plan, run: Option<&Run>, goal: Option<&str>) -> Vec<(String, String)> {
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

    async fn local_task(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        runs: &[Run],
        action: &Action,
    ) -> Result<(), String> {
        let (Action::Hook { step, .. } | Action::MigrateOnce { step, .. }) = action else {
            return Err(format!("`{}` cannot run locally", action.label()));
        };
        if let (Action::MigrateOnce { when_changed, .. }, Some(run), Some(release)) = (action, runs.first(), release)
            && !self.changed(run, release, when_changed).await?
        {
            return Ok(());
        }
        let goal = runs.first().map(|r| r.goal.as_str());
        let out = build::run_local(
            &self.config,
            &step.run,
            &self.config.dir,
            &self.step_env(plan, None, goal),
            &self.observer,
        )
        .await
        .map_err(|e| e.to_string())?;
        check_step(&action.label(), out)
    }

    async fn host_task(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        run: &Run,
        action: &Action,
    ) -> Result<Effect, String> {
        let env = self.step_env(plan, Some(run), Some(&run.goal));
        let app = &run.app;
        let release_dir = app.release_dir(&run.goal);
        let current = format!("{}/current", app.dir());
        let already = run.stage.as_ref().is_some_and(|s| s.already);
        let step = |cmd: String, cwd: String| {
            let env = env.clone();
            let label = action.label();
            async move {
                let out =
                    app.run_step(&cmd, &cwd, &env, Some(self.sink(app.host()))).await.map_err(|e| e.to_string())?;
                check_step(&label, out).map(|_| Effect::None)
            }
        };
        match action {
            Action::Upload { shared } => {
                let release = release.expect("a deploy has a release");
                self.upload(run, release, shared).await.map(Effect::Staged)
            }
            Action::PostUpload { step: s } => {
                if already {
                    return Ok(Effect::None);
                }
                step(s.run.clone(), release_dir).await
            }
            Action::MigrateOnce { step: s, when_changed } | Action::MigratePerHost { step: s, when_changed } => {
                if let Some(release) = release
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
                app.complete(&run.goal).await.map_err(|e| e.to_string())?;
                Ok(Effect::None)
            }
            Action::Hook { step: s, .. } => step(s.run.clone(), app.dir().to_string()).await,
            Action::Stop { step: s } => {
                if run.before.is_none() {
                    return Ok(Effect::None); // nothing was running
                }
                step(s.run.clone(), current).await.map(|_| Effect::Stopped)
            }
            Action::Switch => {
                let kind = match plan.kind {
                    PlanKind::Deploy => EventKind::Deploy,
                    PlanKind::Rollback => EventKind::Rollback,
                };
                let event = self.event(kind, plan, run.before.clone(), Some(run.goal.clone()));
                app.switch(&run.goal, &event).await.map_err(|e| e.to_string())?;
                Ok(Effect::Switched)
            }
            Action::Start { step: s } | Action::Refresh { step: s } => step(s.run.clone(), current).await,
            Action::Health { check } => {
                health::check_host(check, app, &run.target.address, &env).await.map(|_| Effect::None)
            }
            Action::Build { .. } | Action::Pack { .. } => Err("build steps run locally".into()),
        }
    }

    fn event(&self, kind: EventKind, plan: &Plan, from: Option<String>, to: Option<String>) -> Event {
        Event { from, to, env: Some(plan.env.clone()), ..Event::now(kind, &self.who.user) }
    }

    /// The release record of `id` on `run`'s host: from the cache when it is
    /// there (the id ends in the content digest, so a cached record of the
    /// same id describes the same tree), else from the host.
    /// Read once per run: every host of a fleet usually has the same base.
    async fn record(&self, run: &Run, app: &str, id: &str) -> Result<Arc<Release>, String> {
        match self.cached(app, id) {
            Ok(r) => Ok(r),
            // Read from a host, it describes that host's copy: not shared.
            Err(_) => run.app.read_release(id).await.map(Arc::new).map_err(|e| e.to_string()),
        }
    }

    /// The cached release `id` of `app`, parsed once per engine: its record
    /// lists every file, and a deploy needs it in several places.
    pub fn cached(&self, app: &str, id: &str) -> Result<Arc<Release>, haul_release::ReleaseError> {
        if let Some(r) = self.records.lock().expect("not poisoned").get(id) {
            return Ok(r.clone());
        }
        let r = Arc::new(self.cache().get(app, id)?);
        self.records.lock().expect("not poisoned").insert(id.to_string(), r.clone());
        Ok(r)
    }

    /// Whether a file matching one of `globs` changed between what `run`'s
    /// host ran before and `release` (always true without globs, or when
    /// nothing ran before). Says so when it did not.
    async fn changed(&self, run: &Run, release: &Release, globs: &[String]) -> Result<bool, String> {
        let Some(before) = run.before.as_deref().filter(|_| !globs.is_empty()) else { return Ok(true) };
        let old = self.record(run, &release.app, before).await?;
        let diff = haul_release::Diff::between(Some(&old.manifest), &release.manifest);
        let opts = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        let patterns: Vec<glob::Pattern> = globs.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect();
        let hit = diff
            .send
            .iter()
            .map(|e| e.path.as_str())
            .chain(diff.drop.iter().map(String::as_str))
            .any(|p| patterns.iter().any(|g| g.matches_with(p, opts)));
        if !hit {
            self.observer.progress(Progress::Note(&format!(
                "{}: migration skipped: no changed file matches {}",
                run.target.name,
                globs.join(", ")
            )));
        }
        Ok(hit)
    }

    async fn upload(&self, run: &Run, release: &Release, shared: &[String]) -> Result<StageReport, String> {
        if run.state.has_complete(&release.id) {
            return Ok(StageReport { already: true, ..StageReport::default() });
        }
        let base = match run.state.newest_complete().filter(|b| *b != release.id) {
            None => None,
            Some(id) => Some((id.to_string(), self.record(run, &release.app, id).await?)),
        };
        let shared: Vec<SharedPath> = shared.iter().map(|s| SharedPath::parse(s)).collect();
        let archive = self.cache().archive_path(&release.app, &release.id);
        run.app
            .stage(release, &archive, base.as_ref().map(|(_, r)| &**r), &shared, run.state.rsync)
            .await
            .map_err(|e| e.to_string())
    }

    async fn abort_before_switch(
        &self,
        plan: &Plan,
        runs: &mut [Run],
        phase: Phase,
        msg: String,
        t0: Instant,
    ) -> DeployError {
        let staged: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.stage.as_ref().is_some_and(|s| !s.already) || (r.reached == Phase::Stage && !r.unchanged)
            })
            .map(|(i, _)| i)
            .collect();
        let view: &[Run] = runs;
        let results =
            each(staged, self.parallel, |i| async move { view[i].app.discard_incomplete(&view[i].goal).await }).await;
        for r in results {
            if let Err(e) = r {
                self.observer.progress(Progress::Warn(&format!("could not remove a half-staged release: {e}")));
            }
        }
        let release = runs.first().map(|r| r.goal.clone());
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

    /// Puts every host the run touched back on what it ran before.
    async fn switch_back(&self, plan: &Plan, runs: &mut [Run]) -> String {
        let svc = &self.config.app(&plan.app).expect("planned app exists").service;
        let (stop, start) = if svc.stop.is_empty() && svc.start.is_empty() {
            (vec![], svc.refresh.clone())
        } else {
            (svc.stop.clone(), svc.start.clone())
        };
        let chosen: Vec<usize> =
            runs.iter().enumerate().filter(|(_, r)| r.switched || r.stopped).map(|(i, _)| i).collect();
        let view: &[Run] = runs;
        let results = each(chosen.clone(), self.parallel, |i| {
            let run = &view[i];
            let (stop, start) = (&stop, &start);
            async move {
                // The environment's last verified release when the host has
                // it, else what the host ran before, unless that is
                // quarantined: then the newest before it that is not.
                let quarantined = run.before.as_ref().filter(|b| plan.quarantined.contains(b));
                let further = quarantined.and_then(|b| {
                    let mut allowed = run.state.complete();
                    allowed.retain(|r| *r != run.goal && !plan.quarantined.contains(r));
                    haul_host::rollback_target(&run.state.history, b, &allowed)
                });
                let back_to = plan
                    .fallback
                    .as_ref()
                    .filter(|f| **f != run.goal && run.state.has_complete(f))
                    .or(run.before.as_ref().filter(|_| quarantined.is_none()))
                    .or(further.as_ref());
                let env = self.step_env(plan, Some(run), back_to.map(String::as_str));
                let current = format!("{}/current", run.app.dir());
                let mut notes = Vec::new();
                let mut back = false;
                if run.switched {
                    let Some(before) = back_to else {
                        let why = match quarantined {
                            Some(q) => {
                                format!("{q}, which ran before, is quarantined and no release before it is left")
                            }
                            None => "nothing ran before".to_string(),
                        };
                        return (None, vec![format!("{}: {why}; left on {}", run.target.name, run.goal)], false);
                    };
                    for s in stop.iter().filter(|s| !s.local) {
                        if let Err(e) = run_checked(&run.app, &s.run, &current, &env).await {
                            notes.push(format!("{}: stop while switching back: {e}", run.target.name));
                        }
                    }
                    let event = self.event(EventKind::Switchback, plan, Some(run.goal.clone()), Some(before.clone()));
                    match run.app.switch(before, &event).await {
                        Ok(()) => back = true,
                        Err(e) => {
                            let unknown = matches!(e, haul_host::HostError::Transport(_));
                            notes.push(format!("{}: could not switch back: {e}", run.target.name));
                            return (None, notes, unknown);
                        }
                    }
                }
                for s in start.iter().filter(|s| !s.local) {
                    if let Err(e) = run_checked(&run.app, &s.run, &current, &env).await {
                        notes.push(format!("{}: start while switching back: {e}", run.target.name));
                    }
                }
                (back.then(|| back_to.cloned()).flatten(), notes, false)
            }
        })
        .await;
        let mut lines = Vec::new();
        for (i, (back, notes, unknown)) in chosen.into_iter().zip(results) {
            let run = &mut runs[i];
            run.live_unknown = unknown;
            if let Some(to) = back {
                run.switched_back = true;
                lines.push(format!("{}: switched back to {to}", run.target.name));
                run.back_to = Some(to);
            }
            lines.extend(notes);
        }
        if lines.is_empty() { "no host had been switched".into() } else { lines.join("\n") }
    }

    async fn prune_after(&self, plan: &Plan, runs: &[Run], token: &str) {
        let chosen: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].error.is_none()).collect();
        let results = each(chosen, self.parallel, |i| {
            let run = &runs[i];
            async move {
                let mut ids: Vec<String> = run.state.releases.iter().map(|r| r.id.clone()).collect();
                if !ids.contains(&run.goal) {
                    ids.push(run.goal.clone());
                    ids.sort();
                }
                let doomed = prune_set(&ids, &run.state, &run.goal, plan.keep as usize);
                run.app
                    .prune(&doomed, plan.keep as usize, token, |id| {
                        self.event(EventKind::Remove, plan, Some(id.to_string()), None)
                    })
                    .await
            }
        })
        .await;
        for r in results {
            match r {
                Err(e) => self.observer.progress(Progress::Warn(&format!("pruning old releases: {e}"))),
                Ok(p) => {
                    for (id, why) in p.kept {
                        self.observer.progress(Progress::Warn(&format!("not pruned {id}: {why}")));
                    }
                }
            }
        }
    }

    fn report(
        &self,
        plan: &Plan,
        runs: &[Run],
        release: Option<String>,
        ok: bool,
        message: Option<String>,
        t0: Instant,
    ) -> DeployReport {
        let hosts = runs
            .iter()
            .map(|r| {
                let live = if r.live_unknown {
                    None
                } else if r.switched_back {
                    r.back_to.clone()
                } else if r.switched {
                    Some(r.goal.clone())
                } else {
                    r.before.clone()
                };
                let status = if r.unchanged {
                    HostStatus::Unchanged
                } else if r.switched_back {
                    HostStatus::SwitchedBack
                } else if r.error.is_some() {
                    HostStatus::Failed
                } else if !ok && !r.switched {
                    HostStatus::Untouched
                } else {
                    HostStatus::Ok
                };
                HostReport {
                    host: r.target.name.clone(),
                    status,
                    live,
                    before: r.before.clone(),
                    reached: r.reached,
                    elapsed_ms: r.started.elapsed().as_millis() as u64,
                    error: r.error.clone(),
                    stage: r.stage.clone(),
                }
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

/// Releases to remove so that `keep` complete releases stay, the live one
/// always among them (the newest others fill the rest); half-staged
/// leftovers go too. `live` is the release live once the run is done.
pub(crate) fn prune_set(ids: &[String], state: &HostState, live: &str, keep: usize) -> Vec<String> {
    let mut keep_set: std::collections::BTreeSet<&str> = std::collections::BTreeSet::from([live]);
    for id in ids.iter().rev() {
        if keep_set.len() >= keep.max(1) {
            break;
        }
        if state.has_complete(id) {
            keep_set.insert(id);
        }
    }
    ids.iter().filter(|id| !keep_set.contains(id.as_str())).cloned().collect()
}

async fn run_checked(app: &HostApp, cmd: &str, cwd: &str, env: &[(String, String)]) -> Result<(), String> {
    let out = app.run_step(cmd, cwd, env, None).await.map_err(|e| e.to_string())?;
    check_step(cmd, out)
}

fn check_step(label: &str, out: Output) -> Result<(), String> {
    if out.success() {
        return Ok(());
    }
    let code = out.code.map_or("killed by a signal".into(), |c| format!("exit {c}"));
    let text = out.combined();
    Err(if text.is_empty() { format!("{label} failed ({code})") } else { format!("{label} failed ({code}):\n{text}") })
}

fn list(set: std::collections::BTreeSet<String>) -> String {
    if set.is_empty() { "none".into() } else { set.into_iter().collect::<Vec<_>>().join(", ") }
}

pub(crate) fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

//! Setting a run up: the release (built now or from the cache), the hosts
//! that can be reached, the locks, and each host's goal; then the rollout,
//! and the report of hosts that were left out.

use crate::engine::locks::{Held, Hold};
use crate::engine::rollout::{switches, unlocks_at_switch};
use crate::engine::state::HostRun;
use crate::fanout::each;
use crate::plan::{Action, Plan, PlanKind, ReleaseChoice};
use crate::report::{DeployReport, HostReport, HostStatus};
use crate::{DeployError, Engine, Phase, Progress, build};
use haul_host::{HostApp, HostState};
use haul_release::{Release, ReleaseId};
use haul_transport::Transport;
use std::sync::Arc;
use std::time::Instant;

/// The hosts of a run once locked: each host's app, what was read on it
/// under the lock (same order), and the lock's token.
pub(super) struct Locked<'a> {
    pub(super) apps: Vec<HostApp>,
    pub(super) states: Vec<HostState>,
    pub(super) token: &'a str,
    /// The hosts whose lock the run already released (by name).
    pub(super) unlocked: &'a Unlocked,
    /// The locks held by open sessions, for the switch to use.
    pub(super) held: &'a Held,
}

/// The hosts a run unlocked as it went: a switch that is the last thing a
/// run does on a host releases the lock in the same round trip.
pub(super) type Unlocked = std::sync::Mutex<std::collections::BTreeSet<String>>;

impl Engine {
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
        // Every secret is read before any host is touched: a source that
        // fails stops the run while nothing has changed.
        let secrets = if plan.phases.iter().flat_map(|p| &p.tasks).any(|t| matches!(t.action, Action::Secrets { .. })) {
            crate::secrets::read_all(&self.config, &plan.app, &plan.env).await?
        } else {
            Vec::new()
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
        // A run that switches keeps each lock's session open to switch in
        // (and, when the switch is its last task, to release in), where
        // every host's session can be open at once.
        let hold = if apps.len() > self.parallel || !switches(plan) {
            None
        } else if unlocks_at_switch(plan) {
            Some(Hold::ToSwitch)
        } else {
            Some(Hold::Through)
        };
        let (token, states, held) = self
            .lock_inspect_all(
                &apps,
                format!("{verb} {} {}", plan.app, plan.env),
                self.unlock_hint(&plan.app, &plan.env),
                hold,
            )
            .await?;
        let unlocked = Unlocked::default();
        let locked = Locked { apps: apps.clone(), states, token: &token, unlocked: &unlocked, held: &held };
        let mut result = self.run_locked(plan, release.as_deref(), &secrets, locked, t0).await;
        let mut unlocked = unlocked.into_inner().unwrap_or_else(|p| p.into_inner());
        unlocked.extend(self.release_held(held).await);
        let still: Vec<HostApp> = apps.into_iter().filter(|a| !unlocked.contains(a.host())).collect();
        self.unlock_all(&still, &token).await;
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
                    secrets: Vec::new(),
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
                Action::Pack { tree, only } => {
                    return build::pack(&self.config, &plan.app, tree, only.as_deref(), &self.who, &self.observer)
                        .await;
                }
                _ => {}
            }
        }
        unreachable!("a build phase ends with pack")
    }

    /// Works out what each (locked, inspected) host goes to; refuses
    /// a rollback a host cannot make, or one whose hosts disagree.
    pub(super) fn host_runs(
        &self,
        plan: &Plan,
        release: Option<&Release>,
        apps: Vec<HostApp>,
        states: Vec<HostState>,
    ) -> Result<Vec<HostRun>, DeployError> {
        let mut runs = Vec::new();
        for ((app, target), state) in apps.into_iter().zip(plan.hosts.iter()).zip(states) {
            let goal = goal(plan, release, &target.name, &state)?;
            runs.push(HostRun::new(app, target.clone(), state, goal));
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
        Ok(runs)
    }
}

/// The release `host` goes to: the deploy's, the one named, or the one
/// before its live one by its switch history.
fn goal(plan: &Plan, release: Option<&Release>, host: &str, state: &HostState) -> Result<ReleaseId, DeployError> {
    let id = match (&plan.kind, release, &plan.release) {
        (PlanKind::Deploy, Some(r), _) => r.id.clone(),
        (_, _, ReleaseChoice::Given { id }) => {
            if !state.has_complete(id) {
                return Err(DeployError::Refused(format!(
                    "{host}: release {id} is not on this host (releases there: {})",
                    list(state.complete())
                )));
            }
            id.clone()
        }
        _ => state.rollback_target().ok_or_else(|| {
            DeployError::Refused(format!(
                "{host}: no release to roll back to ({}); name one with --to",
                match &state.current {
                    None => "nothing is live".to_string(),
                    Some(c) => format!("{c} is live and nothing was live before it"),
                }
            ))
        })?,
    };
    // Every source is checked where it is read (the cache, the plan, the
    // host's list of releases); this is the proof for what interpolates it.
    Ok(ReleaseId::parse(&id)?)
}

fn list(set: std::collections::BTreeSet<String>) -> String {
    if set.is_empty() { "none".into() } else { set.into_iter().collect::<Vec<_>>().join(", ") }
}

//! A deploy as data: what runs where, in which phase, before anything runs.

pub use haul_api::Phase;
use haul_config::{App, Config, FailurePolicy, HealthCheck, HostTarget, Rollout, Step};
use serde::Serialize;
use std::fmt::{self, Write};
use std::path::PathBuf;

/// Where a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// On the machine running haul, once.
    Local,
    /// On each of these hosts, in parallel.
    Hosts(Vec<String>),
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A local build step.
    Build {
        step: Step,
        workdir: PathBuf,
    },
    /// Snapshot the ship tree (or only the paths listed) into a release.
    Pack {
        tree: PathBuf,
        /// The paths `ship` lists below `tree`; `None` ships all of it.
        only: Option<Vec<String>>,
    },
    Hook {
        hook: &'static str,
        step: Step,
    },
    /// Send what each host lacks and assemble the release, linking shared
    /// paths; with `complete` (the app has no `post_upload` step), also mark
    /// it complete in the same round trip, and no `Complete` task follows.
    Upload {
        shared: Vec<String>,
        complete: bool,
    },
    PostUpload {
        step: Step,
    },
    /// Mark the staged release complete.
    Complete,
    /// Write the secret files (paths under `shared/`; the values are read
    /// when the run starts and are never part of a plan).
    Secrets {
        files: Vec<String>,
    },
    /// `when_changed`: skip unless a changed file matches one of these globs.
    MigrateOnce {
        step: Step,
        when_changed: Vec<String>,
    },
    MigratePerHost {
        step: Step,
        when_changed: Vec<String>,
    },
    Stop {
        step: Step,
    },
    Switch,
    Start {
        step: Step,
    },
    Refresh {
        step: Step,
    },
    Health {
        check: HealthCheck,
    },
}

impl Action {
    pub fn label(&self) -> String {
        match self {
            Action::Build { step, .. } => format!("build: {}", step.label()),
            Action::Pack { tree, only: None } => format!("pack {}", tree.display()),
            Action::Pack { tree, only: Some(only) } => {
                let only: Vec<String> = only.iter().map(|p| p.escape_debug().to_string()).collect();
                format!("pack {}: {}", tree.display(), only.join(", "))
            }
            Action::Hook { hook, step } => format!("{hook} hook: {}", step.label()),
            Action::Upload { shared, complete } => {
                let mut label = String::from("upload changed files");
                if !shared.is_empty() {
                    label.push_str(&format!(", link shared {}", shared.join(", ")));
                }
                if *complete {
                    label.push_str(", mark release complete");
                }
                label
            }
            Action::PostUpload { step } => format!("post-upload: {}", step.label()),
            Action::Complete => "mark release complete".into(),
            Action::Secrets { files } => {
                let files: Vec<String> = files.iter().map(|f| format!("shared/{}", f.escape_debug())).collect();
                format!("write secret files {}", files.join(", "))
            }
            Action::MigrateOnce { step, when_changed } => {
                format!("migrate once: {}{}", step.label(), when(when_changed))
            }
            Action::MigratePerHost { step, when_changed } => format!("migrate: {}{}", step.label(), when(when_changed)),
            Action::Stop { step } => format!("stop: {}", step.label()),
            Action::Switch => "switch current".into(),
            Action::Start { step } => format!("start: {}", step.label()),
            Action::Refresh { step } => format!("refresh: {}", step.label()),
            Action::Health { check } => format!("health: {}", check.label()),
        }
    }
}

fn when(globs: &[String]) -> String {
    if globs.is_empty() { String::new() } else { format!(" (when {} changed)", globs.join(", ")) }
}

/// How the switch and verify phases go through the hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RolloutPlan {
    /// Every host at once.
    Fleet,
    /// Batch by batch (the first may be a canary), pausing between them.
    Rolling {
        batches: Vec<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pause_ms: Option<u64>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    #[serde(flatten)]
    pub action: Action,
    pub on: On,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanPhase {
    pub phase: Phase,
    pub tasks: Vec<Task>,
}

/// What a plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanKind {
    Deploy,
    /// Switch back to a release already on the hosts: no build, no transfer.
    Rollback,
}

/// Which release a deploy ships.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReleaseChoice {
    /// Build one now (the build phase does it).
    Build,
    /// A release already in the cache (deploy) or on the hosts (rollback).
    Given { id: String },
    /// Each host's previous release by its switch history (rollback).
    Previous,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub kind: PlanKind,
    pub app: String,
    pub env: String,
    pub release: ReleaseChoice,
    pub hosts: Vec<HostTarget>,
    /// The app's directory on every host.
    pub app_path: String,
    pub failure: FailurePolicy,
    pub keep: u32,
    pub rollout: RolloutPlan,
    /// Where a failed deploy switches back to, when the host has it (the
    /// environment's last verified release); otherwise each host's previous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Releases quarantined in the ledger: a failed deploy does not switch
    /// back to one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<String>,
    pub phases: Vec<PlanPhase>,
}

impl Plan {
    pub fn app_dir(&self, host: &HostTarget) -> String {
        host.app_dir(&self.app, Some(&self.app_path))
    }
}

/// Plans deploying `app` to `env` (all its hosts, or only `only`).
pub fn plan_deploy(
    config: &Config,
    app_name: &str,
    env_name: &str,
    release: ReleaseChoice,
    only: &[String],
) -> Result<Plan, crate::DeployError> {
    if let ReleaseChoice::Given { id } = &release {
        // Ids reach host scripts and paths: a bad one stops here, before
        // any host is touched.
        haul_release::check_release_id(id)?;
    }
    let app = config.app(app_name)?;
    let env = config.env(env_name)?;
    let hosts = config.app_hosts(app_name, env_name, only)?;
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let on_step = |step: &Step| -> Option<On> {
        if step.local {
            return Some(On::Local);
        }
        let chosen: Vec<String> = hosts.iter().filter(|h| step.applies_to(&h.roles)).map(|h| h.name.clone()).collect();
        (!chosen.is_empty()).then_some(On::Hosts(chosen))
    };
    let all = On::Hosts(names.clone());
    let hooks = |list: &[Step], hook: &'static str, tasks: &mut Vec<Task>| {
        for s in list {
            if let Some(on) = on_step(s) {
                tasks.push(Task { action: Action::Hook { hook, step: s.clone() }, on });
            }
        }
    };
    let steps = |list: &[Step], make: fn(Step) -> Action, tasks: &mut Vec<Task>| {
        for s in list {
            if let Some(on) = on_step(s) {
                tasks.push(Task { action: make(s.clone()), on });
            }
        }
    };

    let mut phases = Vec::new();
    if let ReleaseChoice::Build = release {
        let workdir = normalize(&config.dir.join(&app.workdir));
        let mut tasks: Vec<Task> = app
            .build
            .iter()
            .map(|s| Task { action: Action::Build { step: s.clone(), workdir: workdir.clone() }, on: On::Local })
            .collect();
        let ship = app.ship.get_ref();
        let pack = Action::Pack { tree: normalize(&workdir.join(ship.tree())), only: ship.only() };
        tasks.push(Task { action: pack, on: On::Local });
        phases.push(PlanPhase { phase: Phase::Build, tasks });
    }

    let mut t = Vec::new();
    hooks(&app.hooks.before_stage, "before_stage", &mut t);
    // With nothing to run between them, staging marks the release complete
    // itself: one round trip per host fewer.
    let complete = app.post_upload.is_empty();
    t.push(Task {
        action: Action::Upload { shared: app.shared.iter().map(|s| s.get_ref().clone()).collect(), complete },
        on: all.clone(),
    });
    steps(&app.post_upload, |step| Action::PostUpload { step }, &mut t);
    if !complete {
        t.push(Task { action: Action::Complete, on: all.clone() });
    }
    let secrets: Vec<String> = config.secrets(app_name, env_name).into_iter().map(|s| s.path).collect();
    if !secrets.is_empty() {
        t.push(Task { action: Action::Secrets { files: secrets }, on: all.clone() });
    }
    hooks(&app.hooks.after_stage, "after_stage", &mut t);
    phases.push(PlanPhase { phase: Phase::Stage, tasks: t });

    let mut t = Vec::new();
    let migrating = migrate_host(app, &hosts);
    if !app.migrate.once.is_empty() || !app.migrate.per_host.is_empty() {
        hooks(&app.hooks.before_migrate, "before_migrate", &mut t);
        let globs: Vec<String> = app.migrate.when_changed.iter().map(|g| g.get_ref().clone()).collect();
        for s in &app.migrate.once {
            let on = if s.local { On::Local } else { On::Hosts(vec![migrating.clone()]) };
            t.push(Task { action: Action::MigrateOnce { step: s.clone(), when_changed: globs.clone() }, on });
        }
        for s in &app.migrate.per_host {
            if let Some(on) = on_step(s) {
                t.push(Task { action: Action::MigratePerHost { step: s.clone(), when_changed: globs.clone() }, on });
            }
        }
        hooks(&app.hooks.after_migrate, "after_migrate", &mut t);
    }
    if !t.is_empty() {
        phases.push(PlanPhase { phase: Phase::Migrate, tasks: t });
    }

    let mut t = Vec::new();
    hooks(&app.hooks.before_switch, "before_switch", &mut t);
    if app.service.refresh.is_empty() {
        steps(&app.service.stop, |step| Action::Stop { step }, &mut t);
        t.push(Task { action: Action::Switch, on: all.clone() });
        steps(&app.service.start, |step| Action::Start { step }, &mut t);
    } else {
        t.push(Task { action: Action::Switch, on: all.clone() });
        steps(&app.service.refresh, |step| Action::Refresh { step }, &mut t);
    }
    hooks(&app.hooks.after_switch, "after_switch", &mut t);
    phases.push(PlanPhase { phase: Phase::Switch, tasks: t });

    let mut t = Vec::new();
    hooks(&app.hooks.before_verify, "before_verify", &mut t);
    for h in &app.health {
        t.push(Task { action: Action::Health { check: h.get_ref().clone() }, on: all.clone() });
    }
    hooks(&app.hooks.after_verify, "after_verify", &mut t);
    if !t.is_empty() {
        phases.push(PlanPhase { phase: Phase::Verify, tasks: t });
    }

    let rollout = match *env.rollout.get_ref() {
        Rollout::Fleet => RolloutPlan::Fleet,
        Rollout::Rolling => {
            let mut rest: &[String] = &names;
            let mut batches = Vec::new();
            if let Some(c) = &env.canary {
                let (canary, others) = rest.split_at((*c.get_ref() as usize).min(rest.len()));
                batches.push(canary.to_vec());
                rest = others;
            }
            let size = env.batch.as_ref().map_or(1, |b| b.get_ref().of(names.len()));
            batches.extend(rest.chunks(size).map(<[String]>::to_vec));
            RolloutPlan::Rolling { batches, pause_ms: env.pause.as_ref().map(|p| p.get_ref().0.as_millis() as u64) }
        }
    };
    Ok(Plan {
        kind: PlanKind::Deploy,
        rollout,
        fallback: None,
        quarantined: Vec::new(),
        app: app_name.into(),
        env: env_name.into(),
        release,
        app_path: app.path.as_ref().map_or(app_name.to_string(), |p| p.get_ref().clone()),
        hosts,
        failure: env.failure,
        keep: *app.keep.get_ref(),
        phases,
    })
}

/// Plans a rollback of `app` in `env` to `to`, or to each host's previous
/// release. Stop, switch, start (refresh only when there is no stop/start),
/// then the health checks.
pub fn plan_rollback(
    config: &Config,
    app_name: &str,
    env_name: &str,
    to: Option<String>,
    only: &[String],
) -> Result<Plan, crate::DeployError> {
    if let Some(id) = &to {
        haul_release::check_release_id(id)?;
    }
    let mut plan = plan_deploy(config, app_name, env_name, ReleaseChoice::Previous, only)?;
    let app = config.app(app_name)?;
    plan.kind = PlanKind::Rollback;
    plan.release = match to {
        Some(id) => ReleaseChoice::Given { id },
        None => ReleaseChoice::Previous,
    };
    plan.phases.retain(|p| matches!(p.phase, Phase::Switch | Phase::Verify));
    if app.service.stop.is_empty() && app.service.start.is_empty() {
        return Ok(plan);
    }
    // Assume the live release is broken: restart it fully rather than refresh.
    let switch = plan.phases.iter_mut().find(|p| p.phase == Phase::Switch).expect("switch phase");
    let all = On::Hosts(plan.hosts.iter().map(|h| h.name.clone()).collect());
    let mut tasks = Vec::new();
    for t in switch.tasks.drain(..) {
        match t.action {
            Action::Refresh { .. } => {}
            Action::Switch => {
                for s in &app.service.stop {
                    tasks.push(Task { action: Action::Stop { step: s.clone() }, on: all.clone() });
                }
                tasks.push(Task { action: Action::Switch, on: all.clone() });
                for s in &app.service.start {
                    tasks.push(Task { action: Action::Start { step: s.clone() }, on: all.clone() });
                }
            }
            Action::Stop { .. } | Action::Start { .. } => {}
            _ => tasks.push(t),
        }
    }
    switch.tasks = tasks;
    Ok(plan)
}

/// Drops `.` components so paths print the way a person would write them.
pub(crate) fn normalize(p: &std::path::Path) -> PathBuf {
    p.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}

/// The host that runs `once` migrations: the first with the migrating role.
fn migrate_host(app: &App, hosts: &[HostTarget]) -> String {
    app.migrate
        .role
        .as_ref()
        .and_then(|r| hosts.iter().find(|h| h.roles.contains(r.get_ref())))
        .unwrap_or(&hosts[0])
        .name
        .clone()
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PlanKind::Deploy => writeln!(f, "deploy {} to {}", self.app, self.env)?,
            PlanKind::Rollback => writeln!(f, "roll back {} in {}", self.app, self.env)?,
        }
        match &self.release {
            ReleaseChoice::Build => writeln!(f, "  release:    build a new one")?,
            ReleaseChoice::Given { id } => writeln!(f, "  release:    {id}")?,
            ReleaseChoice::Previous => writeln!(f, "  release:    each host's previous release")?,
        }
        writeln!(f, "  on failure: {}", format!("{:?}", self.failure).to_lowercase())?;
        writeln!(f, "  keep:       {} releases per host", self.keep)?;
        if let RolloutPlan::Rolling { batches, pause_ms } = &self.rollout {
            let list: Vec<String> = batches.iter().map(|b| b.join(", ")).collect();
            let pause = pause_ms.map(|ms| format!(", pausing {ms} ms between batches")).unwrap_or_default();
            writeln!(f, "  rollout:    rolling: switch and verify in batches [{}]{pause}", list.join("] ["))?;
        }
        writeln!(f, "  hosts:")?;
        let width = self.hosts.iter().map(|h| h.name.len()).max().unwrap_or(0);
        for h in &self.hosts {
            let how = match &h.reach {
                haul_config::Reach::Local => "local".to_string(),
                haul_config::Reach::Ssh { address, user, port, jump } => {
                    let mut s = format!("ssh {}{address}", user.as_ref().map(|u| format!("{u}@")).unwrap_or_default());
                    if let Some(p) = port {
                        let _ = write!(s, ":{p}");
                    }
                    if !jump.is_empty() {
                        let hops: Vec<&str> = jump.iter().map(|j| j.key.as_str()).collect();
                        let _ = write!(s, " via {}", hops.join(" → "));
                    }
                    s
                }
            };
            let roles = if h.roles.is_empty() { String::new() } else { format!(" [{}]", h.roles.join(", ")) };
            writeln!(f, "    {:width$}  {how}  {}{roles}", h.name, self.app_dir(h))?;
        }
        let all = self.hosts.len();
        let on = |t: &Task| match &t.on {
            On::Local => "local".to_string(),
            On::Hosts(h) if h.len() == all && all > 1 => "all hosts".to_string(),
            On::Hosts(h) => h.join(", "),
        };
        let width = self.phases.iter().flat_map(|p| &p.tasks).map(|t| on(t).len()).max().unwrap_or(0);
        for (i, p) in self.phases.iter().enumerate() {
            writeln!(f, "{}. {}", i + 1, p.phase)?;
            for t in &p.tasks {
                writeln!(f, "     {:<width$}  {}", on(t), t.action.label())?;
            }
        }
        Ok(())
    }
}

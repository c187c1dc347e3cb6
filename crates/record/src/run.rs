//! A plan run and recorded: what the ledger must say before the run (the
//! release built and registered, quarantines, where a failure goes back to,
//! where a rollback goes), the run under a [`Recorder`], and its outcome.
//! Printing the outcome is the caller's.

use crate::{Client, NoPredecessor, RecordError, Recorder, Result};
use haul_config::Config;
use haul_deploy::{DeployError, DeployReport, Engine, Plan, PlanKind, Progress, ReleaseChoice};
use haul_ledger::Trigger;
use std::collections::BTreeSet;

/// What the engine made of a run that was recorded: its report, or why it
/// failed (a failed run's report is in [`DeployError::Failed`]).
pub type Outcome = std::result::Result<DeployReport, DeployError>;

/// How the ledger records a run of `plan`: a rollback, a promotion
/// (`promote`), or a plain deploy.
pub fn trigger_of(plan: &Plan, promote: bool) -> Trigger {
    match (plan.kind, promote) {
        (PlanKind::Rollback, _) => Trigger::Rollback,
        (_, true) => Trigger::Promote,
        (_, false) => Trigger::Deploy,
    }
}

/// Runs `plan` with `engine` (configured by the caller: observer, reason,
/// skipping unreachable hosts) and records it through `client`. `force`
/// breaks glass past the gate. A deploy that builds builds first, so the
/// ledger knows the release before anything ships; a plain rollback picks
/// its release from the hosts' history before any host changes.
///
/// `Err` is a failure to prepare or record the run; a run that was recorded
/// comes back as its [`Outcome`], failed or not.
pub async fn run(
    client: &Client,
    engine: &mut Engine,
    mut plan: Plan,
    trigger: Trigger,
    force: bool,
) -> Result<Outcome> {
    check_built_for_downstream(&engine.config, &plan, force)?;
    if let (PlanKind::Deploy, ReleaseChoice::Build) = (plan.kind, &plan.release) {
        engine.observer.progress(Progress::Phase(haul_deploy::Phase::Build));
        let release = haul_deploy::build_release(&engine.config, &plan.app, &engine.who, &engine.observer).await?;
        plan.release = ReleaseChoice::Given { id: release.id };
    }
    plan.quarantined = client.quarantined(&plan.app, &plan.env).await?;
    match plan.kind {
        PlanKind::Deploy => plan.fallback = client.last_verified(&plan.app, &plan.env).await?,
        PlanKind::Rollback => resolve_rollback(engine, &mut plan).await?,
    }
    let recorder = Recorder::start(client, engine, &plan, trigger, force).await?;
    let outcome = engine.run(&plan).await;
    recorder.finish(engine, &outcome).await?;
    Ok(outcome)
}

/// A release built now never ran anywhere: an environment whose code comes
/// from another refuses it before anything is built (unless forced).
pub fn check_built_for_downstream(config: &Config, plan: &Plan, force: bool) -> Result {
    if force || !matches!((plan.kind, &plan.release), (PlanKind::Deploy, ReleaseChoice::Build)) {
        return Ok(());
    }
    let up = config.env(&plan.env)?.code.get_ref();
    if up == "build" {
        return Ok(());
    }
    Err(RecordError::BuiltForDownstream { app: plan.app.clone(), env: plan.env.clone(), upstream: up.clone() })
}

/// Picks where a plain rollback goes before any host changes: each host's
/// previous release by its switch history, past quarantined ones; the
/// hosts must agree. The gate then judges that release, and the ledger
/// records the rollback, before the switch.
async fn resolve_rollback(engine: &Engine, plan: &mut Plan) -> Result {
    if !matches!(plan.release, ReleaseChoice::Previous) {
        return Ok(());
    }
    let names: Vec<String> = plan.hosts.iter().map(|h| h.name.clone()).collect();
    let mut goals: Vec<(String, String)> = Vec::new();
    for (host, state) in engine.inspect(&plan.app, &plan.env, &names).await? {
        let state = match state {
            Ok(s) => s,
            Err(_) if engine.skip_unreachable => continue,
            Err(error) => return Err(RecordError::HostUnreachable { host: host.name, error: Box::new(error) }),
        };
        let Some(current) = state.current.clone() else {
            return Err(RecordError::NothingLive { host: host.name });
        };
        let mut allowed = state.complete();
        allowed.retain(|r| !plan.quarantined.contains(r));
        match haul_host::rollback_target(&state.history, &current, &allowed) {
            Some(t) => goals.push((host.name.clone(), t)),
            None => {
                let why = match state.rollback_target() {
                    Some(previous) => NoPredecessor::Quarantined { previous, current },
                    None => NoPredecessor::First { current },
                };
                return Err(RecordError::NoPredecessor { host: host.name, why });
            }
        }
    }
    let targets: BTreeSet<&str> = goals.iter().map(|(_, t)| t.as_str()).collect();
    match targets.len() {
        0 => Err(RecordError::NoHostReached),
        1 => {
            plan.release = ReleaseChoice::Given { id: goals[0].1.clone() };
            Ok(())
        }
        _ => Err(RecordError::Disagree { goals }),
    }
}

//! Pruning after a switch, by push's rule (`HostState::prune_set`): `keep`
//! complete releases stay, the live one always among them, half-staged
//! leftovers go. Each release
//! about to go runs the `pre-remove` script it ships (in its directory); one
//! whose script fails is kept, and that is reported. The deleting script on
//! the host re-checks everything under the lock guard (`HostApp::prune`).

use crate::sync::AppRun;
use haul_bless::Blessing;
use haul_host::{EventKind, HostState};
use haul_store::reports::{AgentPhase, StepReport};
use jiff::Timestamp;

/// Prunes by `hs`, what the host showed when this round took its lock (the
/// lock kept it so but for this round's own release, which is live now).
pub(crate) async fn prune(run: &mut AppRun<'_>, b: &Blessing, token: &str, hs: &HostState) {
    let host = run.host().clone();
    let keep = b.steps.keep.max(1) as usize;
    let doomed = hs.prune_set(b.release.as_str(), keep);
    let env = run.env(b);
    let mut go = Vec::new();
    for id in doomed {
        if hs.has_complete(&id) {
            let dir = format!("{}/releases/{id}", host.dir());
            let t = std::time::Instant::now();
            if let Err(e) = crate::steps::script(&host, "pre-remove", &b.steps.scripts.pre_remove, &dir, &env).await {
                run.state.push_step(StepReport {
                    phase: AgentPhase::Live,
                    name: format!("pre-remove {id}"),
                    ok: false,
                    started: Timestamp::now(),
                    millis: t.elapsed().as_millis() as u64,
                    output: crate::steps::last_lines(&format!("{e}; the release is kept")),
                });
                continue;
            }
        }
        go.push(id);
    }
    let (app_env, user) = (run.agent.config.env.clone(), run.agent.user.clone());
    let event = |id: &str| haul_host::Event {
        from: Some(id.to_string()),
        env: Some(app_env.clone()),
        ..haul_host::Event::now(EventKind::Remove, &user)
    };
    match host.prune(&go, hs.leftovers, keep, token, event).await {
        Ok(p) => {
            for (id, why) in p.kept {
                run.agent.warn(&format!("{}: not pruned {id}: {why}", run.app));
            }
            for w in p.warnings {
                run.agent.warn(&format!("{}: pruning: {w}", run.app));
            }
        }
        Err(e) => run.agent.warn(&format!("{}: pruning: {e}", run.app)),
    }
}

//! Pruning after a deploy: old releases go so that `keep` complete ones stay
//! on each host that went through the run, the live one always among them.

use crate::engine::state::HostRun;
use crate::fanout::each;
use crate::plan::Plan;
use crate::{Engine, Progress};
use haul_host::{EventKind, HostState};

impl Engine {
    pub(super) async fn prune_after(&self, plan: &Plan, runs: &[HostRun], token: &str) {
        let chosen: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].error.is_none()).collect();
        let results = each(chosen, self.parallel, |i| {
            let run = &runs[i];
            async move {
                let mut ids: Vec<String> = run.host.releases.iter().map(|r| r.id.clone()).collect();
                if !ids.iter().any(|id| *id == *run.goal) {
                    ids.push(run.goal.to_string());
                    ids.sort();
                }
                let doomed = prune_set(&ids, &run.host, &run.goal, plan.keep as usize);
                run.app
                    .prune(&doomed, plan.keep as usize, token, |id| {
                        self.event(EventKind::Remove, &plan.env, Some(id.to_string()), None)
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

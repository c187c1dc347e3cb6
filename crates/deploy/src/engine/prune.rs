//! Pruning after a deploy: old releases go so that `keep` complete ones stay
//! on each host that went through the run, the live one always among them.

use crate::engine::state::HostRun;
use crate::fanout::each;
use crate::plan::Plan;
use crate::{Engine, Progress};
use haul_host::EventKind;

impl Engine {
    pub(super) async fn prune_after(&self, plan: &Plan, runs: &[HostRun], token: &str) {
        let chosen: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].error.is_none()).collect();
        let results = each(chosen, self.parallel, |i| {
            let run = &runs[i];
            async move {
                let doomed = run.host.prune_set(&run.goal, plan.keep as usize);
                run.app
                    .prune(&doomed, run.host.leftovers, plan.keep as usize, token, |id| {
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
                    for w in p.warnings {
                        self.observer.progress(Progress::Warn(&format!("pruning: {w}")));
                    }
                }
            }
        }
    }
}

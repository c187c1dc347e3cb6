//! What is on a host for one app, read in one round trip.

use crate::history::Event;
use crate::lock::{LockInfo, parse_lock};
use crate::{HostApp, HostError, scripts};
use haul_transport::Input;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleaseOnHost {
    pub id: String,
    /// Staged completely (post-upload steps passed); only complete releases
    /// are switched to or reused.
    pub complete: bool,
}

/// The app's state on one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostState {
    /// Whether the app directory exists at all.
    pub present: bool,
    /// The live release.
    pub current: Option<String>,
    /// Releases, oldest first.
    pub releases: Vec<ReleaseOnHost>,
    /// Runs staging or removing releases here left names of their own
    /// (stopped, or stale once their lock was taken) that a prune deletes.
    pub leftovers: bool,
    pub lock: Option<LockInfo>,
    pub history: Vec<Event>,
    /// The host has `rsync`.
    pub rsync: bool,
}

impl HostState {
    pub fn complete(&self) -> BTreeSet<String> {
        self.releases.iter().filter(|r| r.complete).map(|r| r.id.clone()).collect()
    }

    pub fn has_complete(&self, id: &str) -> bool {
        self.releases.iter().any(|r| r.complete && r.id == id)
    }

    /// The newest complete release: the base new releases are staged from.
    pub fn newest_complete(&self) -> Option<&str> {
        self.releases.iter().rev().find(|r| r.complete).map(|r| r.id.as_str())
    }

    /// THE rule of what a prune removes, for push and pull alike: every
    /// release but `keep` complete ones, `live` always among them and the
    /// newest other complete ones filling the rest; half-staged leftovers
    /// go too. `live` is what is live once the run is done, which this
    /// state (read when the run took its lock) may not list yet: the
    /// release the run staged. The host's prune script checks again
    /// before it deletes (`HostApp::prune`).
    pub fn prune_set(&self, live: &str, keep: usize) -> Vec<String> {
        let mut kept = BTreeSet::from([live]);
        for r in self.releases.iter().rev() {
            if kept.len() >= keep.max(1) {
                break;
            }
            if r.complete {
                kept.insert(r.id.as_str());
            }
        }
        self.releases.iter().map(|r| &r.id).filter(|id| !kept.contains(id.as_str())).cloned().collect()
    }

    /// Where a rollback from the live release goes.
    pub fn rollback_target(&self) -> Option<String> {
        crate::rollback_target(&self.history, self.current.as_deref()?, &self.complete())
    }

    /// The release that was live before the live one, by the chain.
    pub fn previous(&self) -> Option<String> {
        crate::previous_links(&self.history).get(self.current.as_deref()?).cloned()
    }
}

impl HostApp {
    /// Reads the live release, every release, the lock and the history.
    pub async fn inspect(&self) -> Result<HostState, HostError> {
        let out = self.run_ok("inspect", scripts::INSPECT, &[self.dir()], Input::None).await?;
        parse_state(self.host(), &out.stdout_str())
    }
}

pub(crate) fn parse_state(host: &str, text: &str) -> Result<HostState, HostError> {
    let mut st = HostState::default();
    let text = match text.strip_prefix("@rsync\n") {
        Some(rest) => {
            st.rsync = true;
            rest
        }
        None => text,
    };
    if text.trim() == "@absent" {
        return Ok(st);
    }
    st.present = true;
    let mut section = "";
    let mut lock = String::new();
    let mut locked = false;
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('@') {
            section = match s {
                "current" | "releases" | "lock" | "history" => s,
                _ => section,
            };
            if section == s {
                continue;
            }
        }
        match section {
            "current" => {
                if let Some(id) = line.trim().strip_prefix("releases/") {
                    st.current = Some(id.to_string());
                } else if !line.trim().is_empty() {
                    return Err(HostError::Invalid {
                        host: host.into(),
                        message: format!("`current` points to `{}`, not to a release", line.trim()),
                    });
                }
            }
            "releases" if line == "leftovers" => st.leftovers = true,
            "releases" => {
                if let Some((state, id)) = line.split_once(' ')
                    && haul_release::is_release_id(id)
                {
                    st.releases.push(crate::ReleaseOnHost { id: id.into(), complete: state == "complete" });
                }
            }
            "lock" if line == "#present" && !locked => locked = true,
            "lock" => {
                lock.push_str(line);
                lock.push('\n');
            }
            "history" => {
                if line.trim().is_empty() {
                    continue;
                }
                // A line cut short by a crash must not hide the rest.
                if let Ok(e) = serde_json::from_str::<Event>(line) {
                    st.history.push(e);
                }
            }
            _ => {}
        }
    }
    st.releases.sort_by(|a, b| a.id.cmp(&b.id));
    // A lock file that is there but empty is still a lock.
    if locked || !lock.trim().is_empty() {
        st.lock = Some(parse_lock(&lock));
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::HostState;
    use crate::ReleaseOnHost;

    fn state(releases: &[(&str, bool)]) -> HostState {
        HostState {
            releases: releases
                .iter()
                .map(|(id, complete)| ReleaseOnHost { id: id.to_string(), complete: *complete })
                .collect(),
            ..HostState::default()
        }
    }

    #[test]
    fn a_prune_keeps_the_live_release_and_the_newest_complete_ones_and_drops_leftovers() {
        let s = state(&[("r1", true), ("r2", true), ("r3", false), ("r4", true), ("r5", true)]);
        // r6 was staged by the run: not in the state read at its lock.
        assert_eq!(s.prune_set("r6", 3), ["r1", "r2", "r3"]);
        // An old release live (a rollback) stays, the newest fill the rest.
        assert_eq!(s.prune_set("r1", 3), ["r2", "r3"]);
        // keep 0 is keep 1: the live release never goes.
        assert_eq!(s.prune_set("r5", 0), ["r1", "r2", "r3", "r4"]);
        // A half-staged leftover that is the live release (staged again and
        // completed by this run) stays.
        assert_eq!(s.prune_set("r3", 2), ["r1", "r2", "r4"]);
        assert!(state(&[]).prune_set("r1", 5).is_empty());
    }
}

//! Pruning old releases, decided on the host in the script that deletes.
//!
//! What a run inspected may be out of date by the time it prunes: another
//! run (one that took over this run's lock, or a person) may have staged a
//! release or switched `current` in between. So the deleting script holds
//! the lock guard (nobody can release, take over or clear the lock while it
//! runs), checks that the lock is still this run's, and then re-reads the
//! host: it never removes the live release, one of the newest complete
//! ones it was told to keep, or anything created or changed after this run
//! took its lock (that can only be someone else's work). Each release it
//! skips is named in the result, with why.

use crate::{Event, HostApp, HostError, check_id, scripts};
use haul_transport::Input;

/// What a prune did on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<String>,
    /// Releases that were asked for but kept, each with why.
    pub kept: Vec<(String, String)>,
    /// What the host could not delete (a removed release's files, what a
    /// run staging there left), said so that it is not silently kept.
    pub warnings: Vec<String>,
}

impl HostApp {
    /// Removes `ids` (chosen from an earlier inspect) while the lock is held
    /// by `token`, except what the host now shows must stay: the live
    /// release, the newest `keep - 1` complete releases, and anything newer
    /// than the lock. Each removal is recorded in the history. What runs
    /// staging or removing here left under names of their own is deleted
    /// too; with no `ids`, the host is visited only when its inspect showed
    /// such `leftovers` (`HostState::leftovers`).
    pub async fn prune(
        &self,
        ids: &[String],
        leftovers: bool,
        keep: usize,
        token: &str,
        event: impl Fn(&str) -> Event,
    ) -> Result<Pruned, HostError> {
        if ids.is_empty() && !leftovers {
            return Ok(Pruned::default());
        }
        let recent = (keep.max(1) - 1).to_string();
        let mut args = vec![self.dir().to_string(), token.to_string(), recent];
        for id in ids {
            check_id(self.host(), id)?;
            args.extend([id.clone(), event(id).to_line()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run_ok("prune releases", scripts::PRUNE, &args, Input::None).await?;
        let mut done = Pruned::default();
        for line in out.stdout_str().lines() {
            if let Some(id) = line.strip_prefix("removed ") {
                done.removed.push(id.to_string());
            } else if let Some((id, why)) = line.strip_prefix("kept ").and_then(|l| l.split_once(' ')) {
                done.kept.push((id.to_string(), why.to_string()));
            }
        }
        done.warnings =
            String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
        Ok(done)
    }
}

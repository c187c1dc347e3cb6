//! `haul store purge`: removes spooled releases nothing needs. The caller
//! says what to keep (every release any environment has blessed now or in
//! its last N blessings); this removes the rest, the index last, so an
//! interrupted purge leaves no index naming a missing archive.
//!
//! A purge can race a bless (of a release just spooled, or `--previous` of
//! an old one). Two rules close that window: a release whose index is
//! younger than the grace period (an hour unless said) is never removed,
//! and what to keep is asked for twice, once to decide and again after
//! deciding, just before anything is deleted; a release blessed in
//! between is kept. What is left is a bless that lands during the deletes
//! themselves, of a release older than the grace period and outside the
//! last N blessings: run purge when nobody blesses such a release.
//!
//! A release directory with objects but no index is a spool that was
//! interrupted (or is running now): its objects are removed once the newest
//! of them is older than the grace period, so a spool in progress is never
//! pulled from under its writer. Beside a release that is kept, objects its
//! index does not name (a spool of other bytes under the same id that lost
//! the race for the index) are removed by the same rule.

use crate::list::{Listed, release_dirs};
use crate::{Store, StoreError, keys};
use haul_release::ReleaseId;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How old a release's index (or an unfinished spool's newest object)
/// must be before it is removed, unless said otherwise.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(1);

/// How a purge runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeOptions {
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
    /// Nothing younger than this is removed.
    pub grace: SignedDuration,
    /// The time ages are measured at.
    pub now: Timestamp,
}

impl PurgeOptions {
    /// Now, with the default grace period.
    pub fn new(dry_run: bool) -> PurgeOptions {
        PurgeOptions { dry_run, grace: DEFAULT_GRACE, now: Timestamp::now() }
    }
}

/// What a purge removed (or, dry, would remove) and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    pub app: String,
    pub dry_run: bool,
    /// Spooled releases removed, with their objects.
    pub removed: Vec<Removed>,
    /// Objects of unfinished spools removed (and, beside a kept release,
    /// objects its index does not name: a spool that lost), once old.
    pub unfinished: Vec<Removed>,
    /// Releases kept because the caller needs them.
    pub kept: Vec<String>,
    /// Unfinished spools younger than the grace period, left alone.
    pub in_progress: Vec<String>,
    /// Releases not needed but spooled within the grace period, left alone.
    #[serde(default)]
    pub young: Vec<String>,
    /// Releases found needed when asked again just before deleting (a
    /// bless while the purge decided), left alone.
    #[serde(default)]
    pub blessed_meanwhile: Vec<String>,
    /// Bytes removed.
    pub bytes: u64,
}

/// One release directory's removed objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub id: String,
    pub keys: Vec<String>,
    pub bytes: u64,
}

/// Removes every spooled release of `app` not in what `needed` returns
/// (archive and record first, index last), and unfinished spools, once
/// older than the grace period. `needed` is asked when deciding and again
/// just before deleting; a dry run reports the same without removing
/// anything (and asks once).
pub async fn purge<E: From<StoreError>>(
    store: &Store,
    app: &str,
    needed: impl AsyncFn() -> Result<BTreeSet<ReleaseId>, E>,
    options: &PurgeOptions,
) -> Result<PurgeReport, E> {
    let PurgeOptions { dry_run, grace, now } = *options;
    let keep = needed().await?;
    let mut report = PurgeReport {
        app: app.to_string(),
        dry_run,
        removed: Vec::new(),
        unfinished: Vec::new(),
        kept: Vec::new(),
        in_progress: Vec::new(),
        young: Vec::new(),
        blessed_meanwhile: Vec::new(),
        bytes: 0,
    };
    let old_enough = |o: &Listed| now.duration_since(o.modified) >= grace;
    // What is to go: (id, its objects, whether it has an index).
    let mut doomed: Vec<(ReleaseId, Vec<Listed>, bool)> = Vec::new();
    for (id, objects) in release_dirs(store, app).await? {
        if keep.contains(&id) {
            report.kept.push(id.to_string());
            // Beside a kept release: objects its index does not name (a
            // spool of other bytes under the same id that lost), once old.
            if let Ok(Some(index)) = crate::spool::index(store, app, &id).await {
                let named = [keys::release_index(app, &id), index.archive_key(), index.record_key()];
                let old: Vec<Listed> =
                    objects.iter().filter(|o| !named.contains(&o.key) && old_enough(o)).cloned().collect();
                if !old.is_empty() {
                    doomed.push((id, old, false));
                }
            }
            continue;
        }
        let index = objects.iter().find(|o| o.key.ends_with("/index.json"));
        match index {
            Some(i) if !old_enough(i) => report.young.push(id.to_string()),
            Some(_) => doomed.push((id, objects, true)),
            None => {
                let newest = objects.iter().map(|o| o.modified).max().unwrap_or(Timestamp::UNIX_EPOCH);
                if now.duration_since(newest) < grace {
                    report.in_progress.push(id.to_string());
                } else {
                    doomed.push((id, objects, false));
                }
            }
        }
    }
    // Asked again after deciding: a release blessed since is kept.
    if !dry_run && doomed.iter().any(|(_, _, indexed)| *indexed) {
        let now_needed = needed().await?;
        doomed.retain(|(id, _, indexed)| {
            let needed = *indexed && now_needed.contains(id);
            if needed {
                report.blessed_meanwhile.push(id.to_string());
            }
            !needed
        });
    }
    for (id, mut objects, indexed) in doomed {
        // The index goes last: until it is gone the release is still
        // listed, and a purge run again finishes the job.
        objects.sort_by_key(|o: &Listed| o.key.ends_with("/index.json"));
        let removed = Removed {
            id: id.to_string(),
            bytes: objects.iter().map(|o| o.size).sum(),
            keys: objects.iter().map(|o| o.key.clone()).collect(),
        };
        if !dry_run {
            for o in &objects {
                store.delete(&o.key).await?;
            }
        }
        report.bytes += removed.bytes;
        if indexed { report.removed.push(removed) } else { report.unfinished.push(removed) }
    }
    Ok(report)
}

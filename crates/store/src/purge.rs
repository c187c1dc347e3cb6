//! `haul store purge`: removes spooled releases nothing needs. The caller
//! says what to keep (every release any environment has blessed now or in
//! its last N blessings); this removes the rest, the index last, so an
//! interrupted purge leaves no index naming a missing archive.
//!
//! A release directory with objects but no index is a spool that was
//! interrupted (or is running now): its objects are removed once the newest
//! of them is an hour old, so a spool in progress is never pulled from
//! under its writer. Beside a release that is kept, objects its index does
//! not name (a spool of other bytes under the same id that lost the race
//! for the index) are removed by the same rule.

use crate::list::{Listed, release_dirs};
use crate::{Store, StoreError, keys};
use haul_release::ReleaseId;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How old an unfinished spool's newest object must be before it is removed.
pub const UNFINISHED_AGE: SignedDuration = SignedDuration::from_hours(1);

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
    /// Unfinished spools younger than [`UNFINISHED_AGE`], left alone.
    pub in_progress: Vec<String>,
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

/// Removes every spooled release of `app` not in `keep` (archive and
/// record first, index last), and unfinished spools over an hour old.
/// `dry_run` reports the same without removing anything.
pub async fn purge(
    store: &Store,
    app: &str,
    keep: &BTreeSet<ReleaseId>,
    dry_run: bool,
) -> Result<PurgeReport, StoreError> {
    purge_at(store, app, keep, dry_run, Timestamp::now()).await
}

/// [`purge`] as if it were `now` (for the age of unfinished spools).
pub async fn purge_at(
    store: &Store,
    app: &str,
    keep: &BTreeSet<ReleaseId>,
    dry_run: bool,
    now: Timestamp,
) -> Result<PurgeReport, StoreError> {
    let mut report = PurgeReport {
        app: app.to_string(),
        dry_run,
        removed: Vec::new(),
        unfinished: Vec::new(),
        kept: Vec::new(),
        in_progress: Vec::new(),
        bytes: 0,
    };
    for (id, mut objects) in release_dirs(store, app).await? {
        if keep.contains(&id) {
            report.kept.push(id.to_string());
            // Beside a kept release: objects its index does not name (a
            // spool of other bytes under the same id that lost), once old.
            if let Ok(Some(index)) = crate::spool::index(store, app, &id).await {
                let named = [keys::release_index(app, &id), index.archive_key(), index.record_key()];
                let old: Vec<&Listed> = objects
                    .iter()
                    .filter(|o| !named.contains(&o.key) && now.duration_since(o.modified) >= UNFINISHED_AGE)
                    .collect();
                if !old.is_empty() {
                    let removed = Removed {
                        id: id.to_string(),
                        bytes: old.iter().map(|o| o.size).sum(),
                        keys: old.iter().map(|o| o.key.clone()).collect(),
                    };
                    if !dry_run {
                        for o in &old {
                            store.delete(&o.key).await?;
                        }
                    }
                    report.bytes += removed.bytes;
                    report.unfinished.push(removed);
                }
            }
            continue;
        }
        let indexed = objects.iter().any(|o| o.key.ends_with("/index.json"));
        if !indexed {
            let newest = objects.iter().map(|o| o.modified).max().unwrap_or(Timestamp::UNIX_EPOCH);
            if now.duration_since(newest) < UNFINISHED_AGE {
                report.in_progress.push(id.to_string());
                continue;
            }
        }
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

//! `GET /api/v1/pipeline/{app}` and `haul pipeline --json`: every
//! environment of an app in promotion order, what each runs and since when,
//! what waits to enter it and what that still lacks, where its content comes
//! from, and the four DORA measures over a window.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The whole pipeline of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pipeline {
    pub app: String,
    /// The window the DORA measures cover, in seconds, ending `at`.
    pub window_s: u64,
    /// When this was read (the ledger's time text).
    pub at: String,
    /// In promotion order: those that build first, then each after the
    /// environment it takes its code from.
    pub environments: Vec<Stage>,
}

/// One environment of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    pub env: String,
    /// `push` or `pull`.
    pub mode: String,
    /// The environment it takes its code from; `null` when it builds.
    pub upstream: Option<String>,
    /// The environment it copies content from, or `canonical`.
    pub content: String,
    /// Content is synced into it only when forced with a reason.
    pub protected: bool,
    /// The groups it is a member of (`haul promote --to GROUP`).
    pub groups: Vec<String>,
    /// What it runs, as far as the ledger knows.
    pub live: Option<Live>,
    /// The deployment running in it now.
    pub running: Option<i64>,
    /// The newest release that succeeded upstream and is not live here,
    /// judged against what this environment requires. `null` when it
    /// builds, or runs the newest release upstream already.
    pub waiting: Option<Waiting>,
    /// The release `haul promote` would deploy now (the newest that
    /// qualifies), when it is not the live one.
    pub promotable: Option<String>,
    /// The newest content sync into it.
    pub last_sync: Option<LastSync>,
    /// The content sets that take only a subset into it, and what.
    pub subsets: Vec<SubsetState>,
    pub dora: Dora,
}

/// What an environment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Live {
    pub release: String,
    pub deployment: i64,
    /// When that deployment finished.
    pub since: Option<String>,
    /// `passed` (every verification reported passed, at least one), `failed`
    /// (one did not pass), or `none` (none was reported).
    pub verified: String,
    /// Each verification's newest result.
    pub verifications: Vec<VerificationState>,
}

/// A verification's newest result on a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerificationState {
    pub name: String,
    pub result: crate::VerificationResult,
}

/// A release waiting to enter an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Waiting {
    pub release: String,
    /// Its newest successful deployment upstream.
    pub upstream_deployment: i64,
    pub qualifies: bool,
    /// Every requirement it does not meet yet, in the gate's words.
    pub lacks: Vec<String>,
}

/// A content set's stated subset for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubsetState {
    pub set: String,
    pub description: String,
}

/// A content sync, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastSync {
    pub id: i64,
    pub from_env: String,
    pub sets: String,
    pub outcome: String,
    pub at: String,
}

/// The four DORA measures of one app in one environment over a window.
///
/// Changes are deployments started by `deploy` or `promote` that finished
/// in the window (rollbacks restore; they are not changes). A change
/// failed when it ended `failed` or `switched_back`, or was later undone by
/// a rollback. A failure is restored when a later deployment succeeded in
/// the environment (for an undone change: the rollback that undid it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dora {
    /// Changes that finished in the window.
    pub changes: u64,
    /// Of them, those that went live (succeeded, including those later
    /// undone): the deployments frequency counts.
    pub went_live: u64,
    /// Changes that went live, per day over the window.
    pub per_day: f64,
    /// Median time from the release being built to its change finishing
    /// live, in seconds; `null` when no change went live.
    pub lead_time_s: Option<f64>,
    /// Failed changes over changes; `null` without a change.
    pub change_failure_rate: Option<f64>,
    pub failures: u64,
    /// Median time from a failure to its restoration, in seconds; `null`
    /// when no failure was restored.
    pub time_to_restore_s: Option<f64>,
    /// Failures not restored yet.
    pub unrestored: u64,
}

/// A span of seconds as people read one (`45 s`, `12 min`, `3.5 h`,
/// `2.1 d`): how the CLI and the dashboard show lead and restore times.
pub fn span(s: f64) -> String {
    match s {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

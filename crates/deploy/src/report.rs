//! What a run did to each host, for the summary and for `--json`.

use crate::plan::Phase;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Runs the new release.
    Ok,
    /// Already ran the release; nothing to do.
    Unchanged,
    /// Failed; left on what it ran before unless `switched_back` says more.
    Failed,
    /// Switched to the new release, then back because the deploy failed.
    SwitchedBack,
    /// Not touched because another host failed first.
    Untouched,
    /// Left out of the run: it could not be reached.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub status: HostStatus,
    /// The release live on the host when the run ended.
    pub live: Option<String>,
    /// The release that was live before the run.
    pub before: Option<String>,
    pub reached: Phase,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<haul_host::StageReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub kind: &'static str,
    pub app: String,
    pub env: String,
    pub release: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub hosts: Vec<HostReport>,
    pub elapsed_ms: u64,
}

impl std::fmt::Display for HostStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostStatus::Ok => "ok",
            HostStatus::Unchanged => "unchanged",
            HostStatus::Failed => "failed",
            HostStatus::SwitchedBack => "switched_back",
            HostStatus::Untouched => "untouched",
            HostStatus::Skipped => "skipped",
        })
    }
}

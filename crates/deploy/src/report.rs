//! What a run did to each host, for the summary and for `--json`.

pub use haul_api::HostStatus;
use haul_api::Phase;
use serde::Serialize;

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
    /// The secret files written to the host, by path, with their keyed
    /// digests, for the ledger; never printed.
    #[serde(skip)]
    pub secrets: Vec<(String, String)>,
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

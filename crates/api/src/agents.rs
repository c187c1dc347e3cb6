//! What agents tell the server, and what the server tells of them: an
//! agent's report as it travels over HTTP (the same fields as the report it
//! writes to the store, `haul_store::reports::AgentReport`, which
//! `haul_agent::report` converts both ways), and the ledger's record of each
//! agent's latest report as the server answers it.
//!
//! Bounded: a report names at most [`MAX_ROLES`] roles, [`MAX_LABELS`]
//! labels and [`MAX_STEPS`] steps; every text is further held to the
//! ledger's text rule at the server's edge.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The most roles a report names.
pub const MAX_ROLES: usize = 64;
/// The most labels a report carries.
pub const MAX_LABELS: usize = 64;
/// The most steps a report carries (an agent keeps 64).
pub const MAX_STEPS: usize = 64;

/// Where an agent is with a blessing (the words of
/// `haul_store::reports::AgentPhase`, spelt the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentPhase {
    Idle,
    Download,
    Unpack,
    PostSync,
    Migrate,
    Waiting,
    PreJump,
    Switch,
    PostJump,
    Health,
    Live,
    Failed,
    Refused,
}

impl AgentPhase {
    /// Every phase, in order.
    pub const ALL: &'static [AgentPhase] = &[
        AgentPhase::Idle,
        AgentPhase::Download,
        AgentPhase::Unpack,
        AgentPhase::PostSync,
        AgentPhase::Migrate,
        AgentPhase::Waiting,
        AgentPhase::PreJump,
        AgentPhase::Switch,
        AgentPhase::PostJump,
        AgentPhase::Health,
        AgentPhase::Live,
        AgentPhase::Failed,
        AgentPhase::Refused,
    ];

    /// The one spelling, on the wire and in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentPhase::Idle => "idle",
            AgentPhase::Download => "download",
            AgentPhase::Unpack => "unpack",
            AgentPhase::PostSync => "post_sync",
            AgentPhase::Migrate => "migrate",
            AgentPhase::Waiting => "waiting",
            AgentPhase::PreJump => "pre_jump",
            AgentPhase::Switch => "switch",
            AgentPhase::PostJump => "post_jump",
            AgentPhase::Health => "health",
            AgentPhase::Live => "live",
            AgentPhase::Failed => "failed",
            AgentPhase::Refused => "refused",
        }
    }
}

impl std::fmt::Display for AgentPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AgentPhase {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<AgentPhase, crate::UnknownName> {
        AgentPhase::ALL.iter().copied().find(|p| p.as_str() == s).ok_or_else(|| crate::UnknownName {
            kind: "agent phase",
            value: s.to_string(),
            expected: AgentPhase::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// One step an agent ran, with its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStep {
    pub phase: AgentPhase,
    pub name: String,
    pub ok: bool,
    /// When it started: an RFC 3339 time.
    pub started: String,
    pub millis: u64,
    /// The end of its output.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// `POST /api/v1/agents/reports`: an agent's report for one app in one
/// environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// The host, as the store's keys name it.
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    pub host: String,
    pub app: String,
    pub env: String,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The wave of the blessing this host belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// The blessing version being worked on (or done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blessing: Option<u64>,
    /// The release that blessing names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// What `current` points to on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    pub phase: AgentPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Steps of the current blessing, in order.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub steps: Vec<AgentStep>,
    /// When the report was written (the agent's last contact): an RFC 3339
    /// time.
    #[schema(format = DateTime, pattern = r"^[0-8][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")]
    pub at: String,
    /// The agent's haul version.
    pub agent: String,
}

/// What became of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentReported {
    pub app: String,
    pub env: String,
    pub host: String,
    /// False when the ledger already held this report (the same `at`).
    pub recorded: bool,
    /// The deployment whose host result it updated, if any.
    pub deployment: Option<i64>,
}

/// An agent as the ledger last heard of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub app: String,
    pub env: String,
    pub host: String,
    pub roles: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub wave: Option<u32>,
    pub blessing: Option<u64>,
    pub release: Option<String>,
    pub live: Option<String>,
    pub phase: AgentPhase,
    pub error: Option<String>,
    /// Its last contact (the report's `at`).
    pub at: String,
    pub agent: String,
    /// When the ledger recorded it.
    pub recorded: String,
    /// Its last contact is older than the environment's `silent_after`.
    pub silent: bool,
}

/// `GET /api/v1/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub items: Vec<Agent>,
}

/// `GET /api/v1/agents?app=&env=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    pub app: String,
    pub env: String,
}

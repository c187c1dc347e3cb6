//! The ledger's records as they travel: what a read answers and what an
//! event or a webhook carries. The ledger keeps its own model; these are
//! the shapes a client sees, with the vocabularies and `ReleaseId` as types,
//! so that a client reading them cannot hold an unknown status or an
//! unchecked release id. Times are the ledger's text form (RFC 3339, UTC,
//! microseconds: `2026-01-01T00:00:00.000000Z`).

use crate::{DeliveryStatus, DeploymentStatus, HostStatus, Phase, Trigger, VerificationResult};
use haul_release::ReleaseId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The pattern of a release id (the release crate's `check_release_id`),
/// as the OpenAPI document states it.
pub const RELEASE_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$";

/// A registered release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub app: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub id: ReleaseId,
    pub digest: String,
    pub revision: Option<String>,
    pub built_by: String,
    pub created: String,
    pub files: i64,
    pub bytes: i64,
}

/// The process running a deployment: enough to tell, on its machine, that
/// it is certainly gone (the JSON of `haul_host::Holder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    pub machine: String,
    #[schema(minimum = 0, maximum = 4294967295_u64, format = Int64)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 9223372036854775807_u64, format = Int64)]
    pub start: Option<u64>,
}

/// A deployment as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub id: i64,
    pub app: String,
    pub env: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub trigger: Trigger,
    pub actor: String,
    pub reason: Option<String>,
    /// The blake3 of the `haul.toml` the deployment ran under.
    pub config_digest: String,
    pub status: DeploymentStatus,
    /// The deployment a rollback undoes, as the ledger decided when the
    /// rollback started: the change that brought in the release then
    /// live; none when the rollback goes to the live release.
    pub undoes: Option<i64>,
    pub message: Option<String>,
    pub started: String,
    pub finished: Option<String>,
    /// Set when it was forced past the gate: what was overridden.
    pub forced: Option<String>,
    /// The process running it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// Until when its runner's lease holds (renewed while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
}

/// One host's part in a deployment, as a client reports it and as read:
/// the last phase it reached and where it stands (`running` while the run
/// goes on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostResult {
    pub host: String,
    pub phase: Phase,
    pub status: HostStatus,
    pub error: Option<String>,
    pub elapsed_ms: i64,
}

/// A reported verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub id: i64,
    pub deployment: i64,
    pub name: String,
    pub result: VerificationResult,
    pub link: Option<String>,
    pub reporter: String,
    pub at: String,
}

/// An approval of a release for an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub id: i64,
    pub app: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub env: String,
    pub actor: String,
    pub comment: Option<String>,
    pub at: String,
}

/// A quarantined release: no run goes to it unless forced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quarantine {
    pub app: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub reason: String,
    pub actor: String,
    pub at: String,
}

/// A release that could be promoted, with what stands in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    /// Its newest successful deployment upstream.
    pub deployment: i64,
    pub unmet: Vec<String>,
}

/// The outcome of checking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditReport {
    pub entries: usize,
    /// The first entry where the chain breaks, and how: `[seq, why]`.
    #[schema(value_type = Option<Vec<Object>>, min_items = 2, max_items = 2)]
    pub broken: Option<(i64, String)>,
}

/// One entry of the audit log, as an event. `kind` is the event type
/// (`deployment.started`, `host.result`, …); `data` carries `app` and,
/// where there is one, `env`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One event to be delivered to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    /// The event's sequence number.
    pub event: i64,
    pub kind: String,
    pub status: DeliveryStatus,
    /// Tries so far (since the last redelivery).
    pub attempts: i64,
    /// When it is due next, while pending.
    pub next_at: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<String>,
    /// The HTTP status of the last try, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last try failed, if it did.
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
}

/// One try at a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub id: i64,
    pub delivery: i64,
    pub at: String,
    /// The HTTP status, when the receiver answered.
    pub status: Option<i64>,
    /// What went wrong: a connection error, a timeout, or the status.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A webhook of the server's `haul.toml`, never with its secret; `url`
/// shows scheme, host and port only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub environments: Option<Vec<String>>,
    pub attempts: u32,
    pub backoff_ms: u64,
    pub timeout_ms: u64,
    /// The last event looked at; `null` until a server first follows it.
    pub cursor: Option<i64>,
}

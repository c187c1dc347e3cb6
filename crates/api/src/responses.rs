//! What the server answers: one type per answer, so the server builds its
//! JSON from these and a client reads it into the same types.
//!
//! Lists are pages, newest first (events: oldest first): `next_before`
//! (`next_after` for events) is the key to ask for the next page with, and
//! `null` on the last page.

use crate::DeploymentStatus;
use crate::records::{
    Approval, Candidate, Delivery, DeliveryAttempt, Deployment, Event, HostResult, Quarantine, Release, Verification,
    Webhook,
};
use haul_release::ReleaseId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub ok: bool,
}

/// A release registered (`created`: it was new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRegistered {
    pub app: String,
    #[schema(value_type = String)]
    pub id: ReleaseId,
    pub created: bool,
}

/// A deployment started: its id, who it is recorded as, whether it was
/// forced past the gate, and how often its lease must be renewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentStarted {
    pub id: i64,
    #[schema(value_type = String)]
    pub release: ReleaseId,
    pub actor: String,
    pub forced: Option<String>,
    pub lease_ms: u64,
}

/// A promotion started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PromotionStarted {
    pub id: i64,
    pub release: String,
    /// The upstream deployment the release succeeded in.
    pub upstream_deployment: i64,
}

/// A host's result recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostRecorded {
    pub deployment: i64,
    pub host: String,
}

/// A deployment finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentFinished {
    pub id: i64,
    pub status: DeploymentStatus,
}

/// A lease renewed, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaseRenewed {
    pub id: i64,
    pub lease_until: String,
}

/// The deployments closed as failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Closed {
    pub closed: Vec<i64>,
}

/// A verification reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerificationReported {
    pub id: i64,
    pub deployment: i64,
}

/// An approval recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approved {
    pub app: String,
    pub release: String,
    pub env: String,
    pub actor: String,
}

/// A release quarantined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quarantined {
    pub app: String,
    pub release: String,
    pub actor: String,
}

/// A deployment with its hosts and verifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentDetail {
    pub deployment: Deployment,
    pub hosts: Vec<HostResult>,
    pub verifications: Vec<Verification>,
}

/// What an environment runs by the ledger, its last verified release, and
/// the app's quarantined releases: everything a run reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppEnv {
    pub app: String,
    pub env: String,
    pub live: Option<Deployment>,
    /// The newest release verified there.
    pub last_verified: Option<String>,
    pub quarantined: Vec<String>,
}

/// The candidates for an environment and what each lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Candidates {
    pub app: String,
    pub env: String,
    pub upstream: String,
    pub candidates: Vec<Candidate>,
}

/// A page of deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    pub next_before: Option<i64>,
}

/// A page of releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleasePage {
    pub items: Vec<Release>,
    #[schema(value_type = Option<String>)]
    pub next_before: Option<ReleaseId>,
}

/// A page of approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalPage {
    pub items: Vec<Approval>,
    pub next_before: Option<i64>,
}

/// The quarantined releases of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuarantineList {
    pub items: Vec<Quarantine>,
}

/// A page of events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next_after: Option<i64>,
}

/// The webhooks of the server's `haul.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

/// A page of webhook deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub next_before: Option<i64>,
}

/// A delivery with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// A delivery sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Redelivered {
    pub delivery: Delivery,
}

/// Every error: `{"error": {"status": 409, "message": "…", "request_id": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, with the fields some errors add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    pub message: String,
    /// Also in the `x-request-id` header and in the server's log line of a 500.
    pub request_id: String,
    /// The field at fault, for a 422 about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A refused promotion's candidates and what each lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Candidate>>,
    /// What the gate refused, in its words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusals: Option<Vec<String>>,
}

/// A content sync recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContentSyncRecorded {
    pub id: i64,
}

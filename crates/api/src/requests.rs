//! What a client sends: the JSON bodies of the writes and the query strings
//! of the reads. Bodies refuse unknown fields, so a misspelt field is an
//! error rather than ignored; release ids that the server checks are
//! `ReleaseId`s, so a body with a bad one does not deserialize.

use crate::records::{HostResult, Runner};
use crate::{DeploymentStatus, Trigger, VerificationResult};
use haul_release::ReleaseId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest `on_behalf_of`: a person's name, not a text.
pub const MAX_ON_BEHALF_OF: usize = 256;

/// `POST /api/v1/releases`: register a built release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRelease {
    pub app: String,
    #[schema(value_type = String, min_length = 1, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub id: ReleaseId,
    #[schema(min_length = 1)]
    pub digest: String,
    pub revision: Option<String>,
    pub built_by: String,
    /// When it was built: an RFC 3339 time.
    #[schema(format = DateTime, pattern = r"^[0-8][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")]
    pub created: String,
    pub files: i64,
    pub bytes: i64,
}

/// `POST /api/v1/deployments`: start a deployment (status `running`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDeployment {
    pub app: String,
    pub env: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub trigger: Trigger,
    pub reason: Option<String>,
    pub config_digest: String,
    /// A hint only: the ledger itself decides which deployment a rollback
    /// undoes. Refused (422, `field` = `undoes`) from a trigger other than
    /// `rollback` or naming a deployment of another app or environment;
    /// an id that names no deployment is a 404.
    pub undoes: Option<i64>,
    #[schema(max_length = 256)]
    pub on_behalf_of: Option<String>,
    /// Break glass: go ahead past the gate (needs `admin` and a `reason`).
    #[serde(default)]
    pub force: Option<bool>,
    /// The process that runs the deployment, so that its death is known.
    pub runner: Option<Runner>,
}

/// `POST /api/v1/deployments/{id}/finish`: end a running deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishDeployment {
    /// `succeeded`, `failed` or `switched_back`.
    #[schema(schema_with = finished_status)]
    pub status: DeploymentStatus,
    pub message: Option<String>,
    pub hosts: Option<Vec<HostResult>>,
}

/// The statuses a deployment may finish with.
fn finished_status() -> utoipa::openapi::Object {
    use DeploymentStatus::*;
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([Succeeded, Failed, SwitchedBack].map(DeploymentStatus::as_str)))
        .build()
}

/// `POST /api/v1/deployments/close`: close what is still recorded as
/// running of an app in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRunning {
    pub app: String,
    pub env: String,
    pub reason: String,
    #[schema(max_length = 256)]
    pub on_behalf_of: Option<String>,
}

/// `POST /api/v1/deployments/{id}/verifications`: report a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportVerification {
    pub name: String,
    pub result: VerificationResult,
    pub link: Option<String>,
}

/// `POST /api/v1/approvals`: approve a release for an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    pub app: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub env: String,
    pub comment: Option<String>,
}

/// `POST /api/v1/quarantines`: quarantine a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRelease {
    pub app: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    pub reason: String,
}

/// `POST /api/v1/promotions`: promote the newest release that qualifies
/// (or `release`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    pub app: String,
    pub env: String,
    pub release: Option<String>,
    pub reason: Option<String>,
    #[schema(max_length = 256)]
    pub on_behalf_of: Option<String>,
}

/// `GET /api/v1/deployments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeploymentQuery {
    pub app: Option<String>,
    pub env: Option<String>,
    /// Only deployments older than this id (for the next page).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/pipeline/{app}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// The days the DORA measures cover, ending now (default 30).
    #[param(minimum = 1, maximum = 3660)]
    pub days: Option<u32>,
}

impl PipelineQuery {
    pub const MAX_DAYS: u32 = 3660;
}

/// `GET /api/v1/releases`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    pub app: String,
    /// Only releases older than this id (for the next page).
    pub before: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/approvals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    pub app: String,
    pub release: Option<String>,
    pub env: Option<String>,
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/quarantines`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppQuery {
    pub app: String,
}

/// `GET /api/v1/events` and `/api/v1/events/stream` (which takes no `limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events after this sequence number.
    pub after: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub app: Option<String>,
    pub env: Option<String>,
    /// Event types, comma separated; `deployment.*` takes a family.
    pub kinds: Option<String>,
}

/// The filters of `GET /api/v1/events/stream` as documented: those of
/// [`EventQuery`] but `limit` (which the stream refuses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only events after this sequence number.
    pub after: Option<i64>,
    pub app: Option<String>,
    pub env: Option<String>,
    /// Event types, comma separated; `deployment.*` takes a family.
    pub kinds: Option<String>,
}

/// `GET /api/v1/webhooks/deliveries`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub webhook: Option<String>,
    /// `pending`, `delivered` or `failed` (anything else is a 422).
    #[param(value_type = Option<crate::DeliveryStatus>, inline)]
    pub status: Option<String>,
    /// Only deliveries older than this id (for the next page).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `POST /api/v1/content-syncs`: record a `haul content sync` that ran.
/// Into an environment the server's config protects, the token needs
/// `admin` and the body a `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordContentSync {
    pub app: String,
    pub from: String,
    pub to: String,
    pub sets: Vec<String>,
    pub reason: Option<String>,
    pub succeeded: bool,
    pub bytes: i64,
    /// Each synced set's blake3 of what its import read.
    pub digests: std::collections::BTreeMap<String, String>,
    /// What failed, naming the step and host.
    pub error: Option<String>,
}

/// `POST /api/v1/content-syncs/check`: whether a sync about to run would be
/// recorded (the same judgement as the record, nothing written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckContentSync {
    pub app: String,
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
}

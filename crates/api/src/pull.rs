//! The shapes of deploy requests (`POST /api/v1/deploy-requests`): CI asks
//! a `haul server` that holds the signing key to bless a spooled release
//! for a pull environment, and hears which deployment and which blessing
//! version it started.

use crate::Trigger;
use haul_release::ReleaseId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/deploy-requests`: bless `release` (already spooled in the
/// server's store) for pull environment `env`, and follow the agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub app: String,
    pub env: String,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{13,63}$")]
    pub release: ReleaseId,
    /// The release's manifest digest as CI built it: when given, the
    /// store's release must have it (so whoever else can write to the
    /// store cannot have spooled other contents under the id first).
    #[serde(default)]
    pub digest: Option<String>,
    /// Why; recorded with the deployment and the blessing.
    pub reason: Option<String>,
    /// The person the token acts for (`alice via ci`).
    #[schema(max_length = 256)]
    pub on_behalf_of: Option<String>,
    /// Break glass: go ahead past the gate (needs `admin` and a `reason`).
    #[serde(default)]
    pub force: Option<bool>,
}

/// A deploy request accepted (202): the deployment recorded as running,
/// the blessing written for it; the server follows the agents and
/// finishes the deployment (`GET /api/v1/deployments/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeployRequested {
    /// The ledger deployment.
    pub deployment: i64,
    #[schema(value_type = String)]
    pub release: ReleaseId,
    /// `deploy`, or `promote` into an environment that takes its code from
    /// another.
    pub trigger: Trigger,
    /// The blessing version written (`blessings/<app>/<env>/<version>`).
    pub version: u64,
    /// Who the deployment and blessing are recorded as.
    pub actor: String,
    /// What the gate would have refused, when forced.
    pub forced: Option<String>,
}

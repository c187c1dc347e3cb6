//! The JSON the ledger client sends to and reads from a `haul server`, as
//! types that mirror the server's API field for field, so a request is never
//! assembled by hand. (They become the shared API types once the server's
//! own move into `haul-api`.)

use haul_ledger::{Candidate, Deployment, DeploymentStatus, HostResult, Runner, Trigger, VerificationResult};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/deployments`.
#[derive(Serialize)]
pub struct StartDeployment<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub release: &'a str,
    pub trigger: Trigger,
    pub reason: Option<&'a str>,
    pub config_digest: &'a str,
    pub undoes: Option<i64>,
    pub on_behalf_of: &'a str,
    pub force: bool,
    pub runner: Option<Runner>,
}

/// `POST /api/v1/deployments/{id}/lease`: nothing but the id in the path.
#[derive(Serialize)]
pub struct RenewLease {}

/// `POST /api/v1/deployments/close`.
#[derive(Serialize)]
pub struct CloseRunning<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub reason: &'a str,
    pub on_behalf_of: &'a str,
}

/// `POST /api/v1/deployments/{id}/finish`.
#[derive(Serialize)]
pub struct FinishDeployment<'a> {
    pub status: DeploymentStatus,
    pub message: Option<&'a str>,
    pub hosts: &'a [HostResult],
}

/// `POST /api/v1/deployments/{id}/verifications`.
#[derive(Serialize)]
pub struct ReportVerification<'a> {
    pub name: &'a str,
    pub result: VerificationResult,
    pub link: Option<&'a str>,
}

/// `POST /api/v1/approvals`.
#[derive(Serialize)]
pub struct Approve<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub env: &'a str,
    pub comment: Option<&'a str>,
}

/// `POST /api/v1/quarantines`.
#[derive(Serialize)]
pub struct Quarantine<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub reason: &'a str,
}

/// The answer to `POST /api/v1/deployments/close`.
#[derive(Deserialize)]
pub struct Closed {
    #[serde(default)]
    pub closed: Vec<i64>,
}

/// `GET /api/v1/deployments`.
#[derive(Deserialize)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
}

/// `GET /api/v1/deployments/{id}`: the part the client reads.
#[derive(Deserialize)]
pub struct DeploymentDetail {
    pub verifications: Vec<haul_ledger::Verification>,
}

/// `GET /api/v1/apps/{app}/envs/{env}`, read for what the ledger says the
/// environment runs. (Each reader takes only its field, so one field that
/// does not decode fails only the reader that needs it.)
#[derive(Deserialize)]
pub struct Live {
    pub live: Option<Deployment>,
}

/// `GET /api/v1/apps/{app}/envs/{env}`, read for where a failed deploy goes
/// back to.
#[derive(Deserialize)]
pub struct LastVerified {
    pub last_verified: Option<String>,
}

/// `GET /api/v1/apps/{app}/envs/{env}`, read for the app's quarantines.
#[derive(Deserialize)]
pub struct Quarantined {
    pub quarantined: Vec<String>,
}

/// `GET /api/v1/promotions/{app}/{env}`.
#[derive(Deserialize)]
pub struct Promotions {
    pub candidates: Vec<Candidate>,
}

/// `GET /api/v1/audit/verify`.
#[derive(Deserialize)]
pub struct AuditVerdict {
    pub entries: Option<u64>,
    pub broken: Option<(i64, String)>,
}

//! What the ledger records. The closed vocabularies (a deployment's status
//! and the transitions it may make, what triggered it, a host's phase and
//! status) are `haul-api`'s, and a release id is `haul-release`'s checked
//! [`ReleaseId`]; times are [`jiff::Timestamp`] (see [`crate::time`] for
//! their text).

use crate::rows::{MaybeStamp, RunnerJson, Stamp, Text};
pub use haul_api::{DeploymentStatus, HostStatus, Phase, Trigger, UnknownName, VerificationResult};
pub use haul_release::ReleaseId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A release as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct NewRelease {
    pub app: String,
    #[sqlx(try_from = "Text<ReleaseId>")]
    pub id: ReleaseId,
    pub digest: String,
    pub revision: Option<String>,
    pub built_by: String,
    /// When its builder says it was built.
    #[serde(with = "crate::time::rfc3339")]
    #[sqlx(try_from = "Stamp")]
    pub created: Timestamp,
    pub files: i64,
    pub bytes: i64,
}

/// A recorded release (the same fields as registered).
pub type Release = NewRelease;

/// A deployment about to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewDeployment {
    pub app: String,
    pub env: String,
    pub release: ReleaseId,
    pub trigger: Trigger,
    pub actor: String,
    pub reason: Option<String>,
    /// The blake3 of the `haul.toml` the deployment ran under.
    pub config_digest: String,
    /// The deployment a rollback undoes.
    pub undoes: Option<i64>,
    /// A break-glass past the gate (see [`Force`]); `None` for an ordinary
    /// deployment, which the ledger refuses when the gate would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<Force>,
}

/// A deployment forced past the gate by someone allowed to (`--force
/// --reason`, or an `admin` token): it goes ahead, and the ledger records it
/// as forced, with what was overridden, by the deployment's actor, for its
/// reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Force {
    /// What the gate refused, in its words.
    pub overrode: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Deployment {
    pub id: i64,
    pub app: String,
    pub env: String,
    #[sqlx(try_from = "Text<ReleaseId>")]
    pub release: ReleaseId,
    #[sqlx(try_from = "Text<Trigger>")]
    pub trigger: Trigger,
    pub actor: String,
    pub reason: Option<String>,
    pub config_digest: String,
    #[sqlx(try_from = "Text<DeploymentStatus>")]
    pub status: DeploymentStatus,
    pub undoes: Option<i64>,
    pub message: Option<String>,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub started: Timestamp,
    #[serde(with = "crate::time::fixed_opt")]
    #[sqlx(try_from = "MaybeStamp")]
    pub finished: Option<Timestamp>,
    /// Set when it was forced past the gate: what was overridden.
    pub forced: Option<String>,
    /// The process running it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[sqlx(try_from = "RunnerJson")]
    pub runner: Option<Runner>,
    /// Until when its runner's lease holds (renewed while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::fixed_opt")]
    #[sqlx(try_from = "MaybeStamp")]
    pub lease_until: Option<Timestamp>,
}

impl Deployment {
    /// What a client names as undone by a rollback to `release` while
    /// this deployment is the live one: this one, unless it runs `release`
    /// already (going back to what runs undoes nothing). Only a hint: the
    /// ledger says which deployment a rollback undoes when it starts it
    /// ([`crate::Ledger::start_leased`]), as the ledger stands then.
    pub fn undone_by_rollback_to(&self, release: &ReleaseId) -> Option<i64> {
        (self.release != *release).then_some(self.id)
    }
}

/// The process running a deployment: the API's record of it is the one
/// the ledger keeps.
pub use haul_api::records::Runner;

/// One host's part in a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct HostResult {
    pub host: String,
    /// The last phase it reached.
    #[sqlx(try_from = "Text<Phase>")]
    pub phase: Phase,
    #[sqlx(try_from = "Text<HostStatus>")]
    pub status: HostStatus,
    pub error: Option<String>,
    pub elapsed_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewVerification {
    pub deployment: i64,
    pub name: String,
    pub result: VerificationResult,
    pub link: Option<String>,
    pub reporter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Verification {
    pub id: i64,
    pub deployment: i64,
    pub name: String,
    #[sqlx(try_from = "Text<VerificationResult>")]
    pub result: VerificationResult,
    pub link: Option<String>,
    pub reporter: String,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Approval {
    pub id: i64,
    pub app: String,
    #[sqlx(try_from = "Text<ReleaseId>")]
    pub release: ReleaseId,
    pub env: String,
    pub actor: String,
    pub comment: Option<String>,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Quarantine {
    pub app: String,
    #[sqlx(try_from = "Text<ReleaseId>")]
    pub release: ReleaseId,
    pub reason: String,
    pub actor: String,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub at: Timestamp,
}

/// The outcome of checking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub entries: usize,
    /// The first entry where the chain breaks, and how.
    pub broken: Option<(i64, String)>,
}

impl AuditReport {
    pub(crate) fn broken(entries: usize, seq: i64, why: String) -> AuditReport {
        AuditReport { entries, broken: Some((seq, why)) }
    }
}

/// One entry of the audit log, as an event others are told about. `kind`
/// is the event type (`deployment.started`, `deployment.succeeded`,
/// `host.result`, `verification.reported`, …); `data` carries `app` and,
/// where there is one, `env`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    #[serde(with = "crate::time::fixed")]
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub data: serde_json::Value,
}

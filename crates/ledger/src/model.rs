//! What the ledger records, and the rules for how a deployment's status may
//! change.

use serde::{Deserialize, Serialize};

/// A release as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRelease {
    pub app: String,
    pub id: String,
    pub digest: String,
    pub revision: Option<String>,
    pub built_by: String,
    pub created: String,
    pub files: i64,
    pub bytes: i64,
}

/// A recorded release (the same fields as registered).
pub type Release = NewRelease;

/// What started a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Deploy,
    Promote,
    Rollback,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Deploy => "deploy",
            Trigger::Promote => "promote",
            Trigger::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Trigger {
        match s {
            "promote" => Trigger::Promote,
            "rollback" => Trigger::Rollback,
            _ => Trigger::Deploy,
        }
    }
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Succeeded,
    /// Failed; hosts were left as the failure policy said.
    Failed,
    /// Failed after the switch and every host went back.
    SwitchedBack,
    /// Succeeded, then a later rollback undid it.
    Undone,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::SwitchedBack => "switched_back",
            Status::Undone => "undone",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "switched_back" => Status::SwitchedBack,
            "undone" => Status::Undone,
            _ => Status::Running,
        }
    }

    /// The table of allowed transitions: a running deployment ends once; a
    /// succeeded one can only be undone later; nothing else moves.
    pub fn can_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Running, Status::Succeeded | Status::Failed | Status::SwitchedBack)
                | (Status::Succeeded, Status::Undone)
        )
    }
}

/// A deployment about to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewDeployment {
    pub app: String,
    pub env: String,
    pub release: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: i64,
    pub app: String,
    pub env: String,
    pub release: String,
    pub trigger: Trigger,
    pub actor: String,
    pub reason: Option<String>,
    pub config_digest: String,
    pub status: Status,
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

/// The process running a deployment: enough to tell, on its machine, that
/// it is certainly gone (see `haul_host::Holder`, whose JSON this is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    pub machine: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
}

/// One host's part in a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResult {
    pub host: String,
    pub phase: String,
    pub status: String,
    pub error: Option<String>,
    pub elapsed_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationResult {
    Pass,
    Fail,
    Error,
}

impl VerificationResult {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationResult::Pass => "pass",
            VerificationResult::Fail => "fail",
            VerificationResult::Error => "error",
        }
    }

    pub fn parse(s: &str) -> VerificationResult {
        match s {
            "pass" => VerificationResult::Pass,
            "fail" => VerificationResult::Fail,
            _ => VerificationResult::Error,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewVerification {
    pub deployment: i64,
    pub name: String,
    pub result: VerificationResult,
    pub link: Option<String>,
    pub reporter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub id: i64,
    pub deployment: i64,
    pub name: String,
    pub result: VerificationResult,
    pub link: Option<String>,
    pub reporter: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: i64,
    pub app: String,
    pub release: String,
    pub env: String,
    pub actor: String,
    pub comment: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub app: String,
    pub release: String,
    pub reason: String,
    pub actor: String,
    pub at: String,
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
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub data: serde_json::Value,
}

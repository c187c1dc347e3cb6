//! `GET /api/v1/agents/secrets?app=&env=`: a pull environment's secret
//! files for its agents, answered only to a token whose `secrets` names the
//! environment. The value travels base64-encoded (any bytes), over the
//! server's connection only, and is never cached or logged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One secret file, to be written under `shared/`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretFile {
    /// The path under `shared/` (checked by the server's `haul.toml`).
    pub path: String,
    /// The file's mode (`0o600` unless the config says otherwise).
    pub mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// The value, standard base64.
    pub value: String,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretFile({}, mode {:o})", self.path, self.mode)
    }
}

/// Every secret file of the app in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretFiles {
    pub files: Vec<SecretFile>,
}

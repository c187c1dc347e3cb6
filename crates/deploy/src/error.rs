//! Why a deploy (or rollback, prune, remove) did not happen or did not finish.

use crate::report::DeployReport;
use haul_host::LockInfo;

/// A lock someone else holds on a host.
#[derive(Debug, Clone)]
pub struct LockHeld {
    pub host: String,
    pub info: LockInfo,
    /// Why it looks abandoned, if it does.
    pub stale: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Resolve(#[from] haul_config::ResolveError),
    #[error(transparent)]
    Release(#[from] haul_release::ReleaseError),
    #[error("build step `{step}` failed{}{}", code.map(|c| format!(" (exit {c})")).unwrap_or_default(), if output.is_empty() { String::new() } else { format!(":\n{output}") })]
    Build { step: String, code: Option<i32>, output: String },
    #[error("{}", locked_message(.0, .1))]
    Locked(Vec<LockHeld>, String),
    #[error(transparent)]
    Host(#[from] haul_host::HostError),
    #[error("cannot prepare SSH connections: {0}")]
    SshSetup(#[source] std::sync::Arc<haul_transport::SshSetupError>),
    #[error("{0}")]
    Refused(String),
    /// A secret's value could not be read; nothing was changed on any host.
    #[error("{0}; nothing was changed on any host")]
    Secret(#[from] crate::secrets::SecretError),
    /// The run started and failed; the report says where and what state each
    /// host was left in.
    #[error("{}", .0.message.clone().unwrap_or_else(|| "deploy failed".into()))]
    Failed(Box<DeployReport>),
}

fn locked_message(held: &[LockHeld], unlock_hint: &str) -> String {
    let mut s = String::new();
    for h in held {
        s.push_str(&format!("{}: locked by {}", h.host, h.info.describe()));
        if let Some(why) = &h.stale {
            s.push_str(&format!("\n  the lock looks stale: {why}"));
        }
        s.push('\n');
    }
    if held.iter().any(|h| h.stale.is_some()) {
        s.push_str(&format!("clear a stale lock with: {unlock_hint}"));
    } else {
        s.push_str(&format!("wait for it to finish; if it is stuck, clear it with: {unlock_hint}"));
    }
    s
}

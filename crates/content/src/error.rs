//! What can stop a sync: a refusal before anything ran, or a step that
//! failed, named with its host.

use std::fmt;

/// The steps of a content set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Snapshot,
    Export,
    Transform,
    Import,
    Restore,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Snapshot => "snapshot",
            StepKind::Export => "export",
            StepKind::Transform => "transform",
            StepKind::Import => "import",
            StepKind::Restore => "restore",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A name on the command line does not resolve.
    #[error(transparent)]
    Resolve(#[from] haul_config::ResolveError),
    /// A host's transport could not be set up.
    #[error(transparent)]
    Deploy(#[from] haul_deploy::DeployError),
    /// The sync is refused before anything runs (direction, protection,
    /// unknown set): bad usage.
    #[error("{0}")]
    Refused(String),
    /// A step failed. `target` says what became of the target.
    #[error("content set `{set}`: {step} on {host} failed: {message}\n{target}")]
    Step { set: String, step: StepKind, host: String, message: String, target: String },
}

//! `PullError`: every way the controller side of a pull deploy refuses or
//! fails, each naming the app, environment, key, version or release it is
//! about. Callers decide what an error means to them (the CLI: exit 2 for
//! [`PullError::is_usage`], else 1; the server: a status code per variant)
//! by matching variants, never text.

use haul_bless::Refusal;
use haul_release::ReleaseId;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// An unknown app or environment.
    #[error(transparent)]
    Resolve(#[from] haul_config::ResolveError),
    #[error("environment `{env}` deploys by push; blessings are for environments with `mode = \"pull\"`")]
    NotPull { env: String },
    #[error(
        "{}: no signing key: make one with `haul key new release` and list it in [keys] sign = [\"keys/release.key\"]",
        config.display()
    )]
    NoSigningKey { config: PathBuf },
    /// A key file that is missing or unreadable.
    #[error(transparent)]
    Key(#[from] haul_bless::KeyError),
    #[error(transparent)]
    Store(#[from] haul_store::StoreError),
    /// A release id that is not one, or a release the cache cannot give.
    #[error(transparent)]
    Release(#[from] haul_release::ReleaseError),
    #[error("no release of `{app}` is spooled in {store}: `haul spool {app}` first")]
    NoneSpooled { app: String, store: String },
    #[error(
        "none of the releases of `{app}` spooled in {store} was built or imported here: name the one to bless (`haul bless {app} ENV RELEASE`)"
    )]
    NoneBuiltHere { app: String, store: String },
    #[error("release {release} of {app} is not spooled in {store}: `haul spool {app} --release {release}` first")]
    NotSpooled { app: String, release: ReleaseId, store: String },
    #[error(
        "release {release} of {app} in the store is not the one built here (its manifest digest is {stored}, this one's is {local}); it is not blessed"
    )]
    NotBuiltHere { app: String, release: ReleaseId, stored: String, local: String },
    #[error("{app} has never been blessed for {env}: there is no previous release")]
    NeverBlessed { app: String, env: String },
    #[error("blessing version {version} of {app} in {env} cannot be read: {refusal}")]
    Unreadable { app: String, env: String, version: u64, refusal: Refusal },
    #[error(
        "blessing version {version} of {app} in {env} holds a document signed as version {signed}; its `previous` is not followed"
    )]
    Renumbered { app: String, env: String, version: u64, signed: u64 },
    #[error("no key to verify blessing version {version} of {app} in {env} with: list them in [keys] trust or sign")]
    NoTrust { app: String, env: String, version: u64 },
    #[error("blessing version {version} of {app} in {env} does not verify ({refusal}); its `previous` is not followed")]
    DoesNotVerify { app: String, env: String, version: u64, refusal: Refusal },
    #[error("blessing version {version} of {app} in {env} ({release}) replaced nothing: there is no previous release")]
    NoPrevious { app: String, env: String, version: u64, release: ReleaseId },
    #[error("release {release} of {app} is quarantined; it is not blessed (--force --reason R to break glass)")]
    Quarantined { app: String, env: String, release: ReleaseId },
    #[error(
        "blessing version {version} of {app} in {env} is the last version there can be; it was not written by `haul bless`: remove it"
    )]
    LastVersion { app: String, env: String, version: u64 },
    /// Another blessing of `version` was written first; `winner` says
    /// which release and by whom.
    #[error(
        "another blessing won: version {version} of {app} in {env} is {winner}; nothing was written (bless again for version {})",
        version + 1
    )]
    Lost { app: String, env: String, version: u64, winner: String },
}

impl PullError {
    /// The caller asked for something that cannot be (bad usage or
    /// config), as opposed to a run that failed.
    pub fn is_usage(&self) -> bool {
        use haul_store::StoreError as S;
        match self {
            PullError::Resolve(_)
            | PullError::NotPull { .. }
            | PullError::NoSigningKey { .. }
            | PullError::Key(_)
            | PullError::NoneSpooled { .. }
            | PullError::NoneBuiltHere { .. }
            | PullError::NotSpooled { .. }
            | PullError::NeverBlessed { .. }
            | PullError::NoTrust { .. }
            | PullError::NoPrevious { .. } => true,
            PullError::Store(S::Url { .. } | S::Overwrites { .. }) => true,
            PullError::Store(S::Release(r)) | PullError::Release(r) => release_is_usage(r),
            PullError::Store(_)
            | PullError::NotBuiltHere { .. }
            | PullError::Unreadable { .. }
            | PullError::Renumbered { .. }
            | PullError::DoesNotVerify { .. }
            | PullError::Quarantined { .. }
            | PullError::LastVersion { .. }
            | PullError::Lost { .. } => false,
        }
    }
}

/// A release that is not cached here or an id that is not one is the
/// caller's mistake, as `haul deploy` judges it.
fn release_is_usage(r: &haul_release::ReleaseError) -> bool {
    matches!(r, haul_release::ReleaseError::NotCached { .. } | haul_release::ReleaseError::BadId { .. })
}

pub type Result<T = (), E = PullError> = std::result::Result<T, E>;

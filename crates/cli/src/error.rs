//! The one place that decides how an error is shown and which exit code it
//! gets: 1 when a deploy or a host failed, 2 for bad usage or config
//! (including what the ledger refuses as invalid, a server that does not
//! accept the token, and a release built for an environment that only
//! promotes).

use haul_deploy::DeployError;

pub enum Failure {
    /// Bad usage or config: exit 2.
    Usage(String),
    /// A config error, already rendered with its source excerpt: exit 2.
    Config(String),
    /// A deploy, a host or a step failed: exit 1.
    Run(String),
    /// Already reported in full (e.g. a deploy summary): exit 1.
    Reported,
}

impl Failure {
    pub fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) | Failure::Config(_) => 2,
            Failure::Run(_) | Failure::Reported => 1,
        }
    }
}

impl From<haul_config::ConfigError> for Failure {
    fn from(e: haul_config::ConfigError) -> Self {
        match e {
            haul_config::ConfigError::At { .. } => Failure::Config(e.to_string()),
            haul_config::ConfigError::Io { .. } => Failure::Usage(e.to_string()),
        }
    }
}

impl From<DeployError> for Failure {
    fn from(e: DeployError) -> Self {
        use haul_release::ReleaseError as R;
        match e {
            DeployError::Resolve(_) | DeployError::Release(R::NotCached { .. } | R::BadId { .. }) => {
                Failure::Usage(e.to_string())
            }
            other => Failure::Run(other.to_string()),
        }
    }
}

impl From<haul_record::RecordError> for Failure {
    fn from(e: haul_record::RecordError) -> Self {
        use haul_record::RecordError as E;
        match e {
            E::Deploy(d) => d.into(),
            E::Ledger(haul_ledger::LedgerError::Invalid { .. })
            | E::Resolve(_)
            | E::NoToken { .. }
            | E::BadUrl { .. }
            | E::Unauthorized { .. }
            | E::BuiltForDownstream { .. } => Failure::Usage(e.to_string()),
            E::Refused { .. }
            | E::Unregistered { .. }
            | E::Ledger(_)
            | E::Client { .. }
            | E::Unreachable { .. }
            | E::Read { .. }
            | E::Unavailable { .. }
            | E::Status { .. }
            | E::Malformed { .. }
            | E::Unexpected { .. }
            | E::Unchosen
            | E::BadRecord { .. }
            | E::HostUnreachable { .. }
            | E::NothingLive { .. }
            | E::NoPredecessor { .. }
            | E::NoHostReached
            | E::Disagree { .. } => Failure::Run(e.to_string()),
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, Failure>;

/// A store URL that cannot be opened and a store that overwrites are the
/// configuration's fault (2); everything else the store does is a failed
/// run (1).
impl From<haul_store::StoreError> for Failure {
    fn from(e: haul_store::StoreError) -> Self {
        use haul_store::StoreError as E;
        match e {
            E::Url { .. } | E::Overwrites { .. } => Failure::Usage(e.to_string()),
            E::Release(r) => DeployError::from(r).into(),
            E::Backend { .. } | E::TooLarge { .. } | E::Corrupt { .. } | E::Conflict { .. } | E::Local { .. } => {
                Failure::Run(e.to_string())
            }
        }
    }
}

/// A key file that is missing or unreadable is bad usage or config.
impl From<haul_bless::KeyError> for Failure {
    fn from(e: haul_bless::KeyError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<haul_content::ContentError> for Failure {
    fn from(e: haul_content::ContentError) -> Self {
        use haul_content::ContentError as E;
        match e {
            E::Deploy(d) => d.into(),
            E::Resolve(_) | E::Refused(_) => Failure::Usage(e.to_string()),
            E::Step { .. } => Failure::Run(e.to_string()),
        }
    }
}

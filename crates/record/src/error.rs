//! What can go wrong recording a run, as types: a caller (the CLI, an agent)
//! decides from the variant how to report it and which exit code it gets,
//! never from the text.

use haul_deploy::DeployError;
use haul_ledger::LedgerError;
use std::path::PathBuf;

/// How a refusal says it can be overridden.
pub const BREAK_GLASS: &str =
    "(to go ahead anyway, break glass with --force --reason \"…\"; it is recorded as forced in the ledger)";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The gate does not let the release into the environment (a quarantine,
    /// an unmet requirement, the wrong upstream); breaking glass may go past
    /// it. `message` names the release, the environment and every reason.
    #[error("{message}\n{BREAK_GLASS}")]
    Refused { message: String },
    /// The gate does not know the release: it was never registered.
    #[error("{message}")]
    Unregistered { message: String },
    /// The database refused or failed (an invalid field is
    /// [`LedgerError::Invalid`]).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A name the config does not have (an environment, an app).
    #[error(transparent)]
    Resolve(#[from] haul_config::ResolveError),
    /// The engine failed before or outside a run (a build, a cached
    /// release, reaching hosts to inspect them).
    #[error(transparent)]
    Deploy(#[from] DeployError),

    /// `[ledger] url` names a server and the variable holding its token is
    /// not set.
    #[error("{}: [ledger] url is the haul server {url}; set {var} to a token it accepts", config.display())]
    NoToken { config: PathBuf, url: String, var: String },
    /// The HTTP client could not be made.
    #[error("ledger server {url}: {source}")]
    Client {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A request's URL could not be formed (a name that is not a path).
    #[error("ledger server {base}: {message}")]
    BadUrl { base: String, message: String },
    /// The server could not be reached.
    #[error("ledger server {base}: {}", haul_deploy::error_chain(source))]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server's answer broke off while it was read.
    #[error("ledger server {base}: {source}")]
    Read {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server does not accept the token, or not for this (401, 403).
    #[error("ledger server {base}: {message}")]
    Unauthorized { base: String, status: u16, message: String },
    /// The server cannot reach its database (503): trying later may work.
    #[error("ledger server {base} is unavailable (HTTP 503): {message}")]
    Unavailable { base: String, message: String },
    /// Any other refusal: the server's own message (or the status and the
    /// start of the body when it sent none).
    #[error("{message}")]
    Status { base: String, status: u16, message: String },
    /// A successful answer without what it should carry.
    #[error("ledger server {base}: the answer is not {what}")]
    Malformed { base: String, what: &'static str },
    /// A successful answer that does not decode.
    #[error("ledger server {base}: unexpected answer: {source}")]
    Unexpected {
        base: String,
        #[source]
        source: serde_json::Error,
    },

    /// A run is recorded only once its release is known.
    #[error("the release must be chosen before the run is recorded")]
    Unchosen,
    /// A release in the local cache whose record cannot be registered as
    /// it is (its id fails the check, or its build time is not a time).
    #[error("release {id} of {app} in the release cache: {message}")]
    BadRecord { app: String, id: String, message: String },
    /// A release built now for an environment that takes its code from
    /// another (it never ran there).
    #[error(
        "environment `{env}` takes its code from `{upstream}`: it receives only releases that succeeded there and \
         meet its requirements, never one built for it. Deploy to {upstream} (`haul deploy {app} {upstream}`), then \
         promote (`haul promote {app} --to {env}`), or name a release that qualifies with --release"
    )]
    BuiltForDownstream { app: String, env: String, upstream: String },
    /// A host a rollback must ask could not be inspected.
    #[error("{host}: {error}")]
    HostUnreachable {
        host: String,
        #[source]
        error: Box<haul_host::HostError>,
    },
    /// A host to roll back runs nothing.
    #[error("{host}: no release to roll back to (nothing is live); name one with --to")]
    NothingLive { host: String },
    /// A host to roll back has nothing to go back to.
    #[error("{host}: no release to roll back to: {why}")]
    NoPredecessor { host: String, why: NoPredecessor },
    /// No host of a rollback could be reached (all were skipped).
    #[error("no host to roll back could be reached")]
    NoHostReached,
    /// The hosts of a rollback would go back to different releases.
    #[error("hosts would roll back to different releases ({}); choose one with --to", describe(goals))]
    Disagree {
        /// Each host and where it would go.
        goals: Vec<(String, String)>,
    },
}

/// Why a host has no release to roll back to.
#[derive(Debug, thiserror::Error)]
pub enum NoPredecessor {
    #[error(
        "{previous}, the release before {current}, is quarantined and no release before it is left; name one with --to"
    )]
    Quarantined { previous: String, current: String },
    #[error("{current} is live and nothing was live before it; name one with --to")]
    First { current: String },
}

fn describe(goals: &[(String, String)]) -> String {
    goals.iter().map(|(h, t)| format!("{h} → {t}")).collect::<Vec<_>>().join(", ")
}

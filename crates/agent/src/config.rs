//! The agent's configuration: environment variables (FTL's way) or a small
//! file of the same names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything an agent needs; no `haul.toml`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `HAUL_STORE`: the store's URL.
    pub store: String,
    /// `HAUL_STORE_ENDPOINT`, `HAUL_STORE_REGION`, `HAUL_STORE_ALLOW_HTTP`.
    pub store_options: haul_store::StoreOptions,
    /// `HAUL_ROOT`: the deploy root; each app lives in `<root>/<path>`.
    pub root: PathBuf,
    /// `HAUL_APPS`: the apps this host runs (comma-separated).
    pub apps: Vec<String>,
    /// `HAUL_ENV`: the environment this host belongs to.
    pub env: String,
    /// `HAUL_HOST`: this host's name in reports (default: the hostname).
    pub host: String,
    /// `HAUL_ROLES`: comma-separated.
    pub roles: Vec<String>,
    /// `HAUL_LABELS`: `key=value` pairs, comma-separated.
    pub labels: BTreeMap<String, String>,
    /// `HAUL_TRUST`: `.pub` files (comma-separated) of keys whose blessings
    /// this agent accepts; `HAUL_TRUST_THRESHOLD` of them must sign (default 1).
    pub trust: Vec<PathBuf>,
    pub threshold: usize,
    /// `HAUL_LEDGER`: a `haul server` to report to and subscribe to
    /// (`HAUL_TOKEN` holds its token); reports go into the store without it.
    pub ledger: Option<String>,
    pub token: Option<String>,
    /// `HAUL_INTERVAL`: how often the store is polled (default 30s), with
    /// up to a tenth of jitter.
    pub interval: Duration,
    /// `HAUL_MAX_RELEASE`: the largest archive downloaded (default 4 GiB).
    pub max_release: u64,
}

/// A setting that is missing or cannot be read, naming the variable (and
/// the file and line when it came from a file).
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub message: String,
}

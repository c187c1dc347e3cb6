//! The commands of pull deploys: `spool`, `bless`, `store ls|purge`, and
//! `deploy`/`rollback`/`plan`/`status` on an environment with
//! `mode = "pull"`. What a controller does (the store, keys, blessing,
//! following agents, failure policy) is `haul_pull`, shared with
//! `haul server`; these commands handle arguments and printing, and turn a
//! `PullError` into a `Failure` here.

pub mod bless;
pub mod run;
pub mod spool;
pub mod status;
pub mod store;

use crate::error::{Failure, Result};
use haul_bless::{Blessing, Trust};
use haul_config::{Config, Environment};
use haul_pull::PullError;
use haul_store::Store;

pub use haul_pull::{ago, read_blessing};

/// Bad usage or config (a missing key, an unknown environment, a release
/// not spooled) exits 2; what a run meets (a store that fails, a blessing
/// that lost the race or does not verify, a quarantined release) exits 1.
impl From<PullError> for Failure {
    fn from(e: PullError) -> Self {
        match e {
            PullError::Store(s) => s.into(),
            PullError::Release(r) => haul_deploy::DeployError::from(r).into(),
            e if e.is_usage() => Failure::Usage(e.to_string()),
            e => Failure::Run(e.to_string()),
        }
    }
}

/// Opens the store `config` names (see `haul_pull::open_store`).
pub async fn open_store(config: &Config, writes: bool) -> Result<Store> {
    Ok(haul_pull::open_store(config, writes).await?)
}

/// The environment `env`, which must deploy by pull.
pub fn pull_env<'a>(config: &'a Config, env: &str) -> Result<&'a Environment> {
    Ok(haul_pull::pull_env(config, env)?)
}

/// The keys blessings are checked with here (see `haul_pull::trust`).
pub fn trust(config: &Config) -> Result<Option<Trust>> {
    Ok(haul_pull::trust(config)?)
}

/// A wave by name: the blessing's, `rest` after its last, `all` when it
/// has none; the number when nothing is blessed.
pub fn wave_name(doc: Option<&Blessing>, wave: Option<usize>) -> String {
    match (doc, wave) {
        (_, None) => "-".into(),
        (Some(d), Some(i)) if i < d.waves.len() => d.waves[i].name.clone(),
        (Some(d), Some(_)) if d.waves.is_empty() => "all".into(),
        (Some(_), Some(_)) => "rest".into(),
        (None, Some(i)) => i.to_string(),
    }
}

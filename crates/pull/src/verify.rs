//! `haul verify` on a pull environment: the result goes into the store as
//! well as the ledger, because agents read the store, not the ledger, to
//! decide whether a wave's verifications have passed. One function for the
//! CLI and the server's verify route, so the two record the same object.

use crate::{Result, open_store, trust};
use haul_bless::{Envelope, SecretKey};
use haul_config::{Config, Mode};
use haul_store::Store;
use haul_store::verifications::{NewResult, Outcome, Recorded};

/// The ledger's word for a verification's result, as the store spells it.
pub fn outcome(word: &str) -> Outcome {
    match word {
        "pass" => Outcome::Pass,
        "fail" => Outcome::Fail,
        _ => Outcome::Error,
    }
}

/// Records `v` in the store `config` names when `v.env` deploys by pull
/// (`None` for a push environment: nothing to do). The blessing naming
/// the deployment is judged with the config's trusted keys (or its signing
/// keys' public halves, as `haul store ls` does); an unsigned-trust config
/// takes the document as it stands. When that blessing lists report keys,
/// the result is sealed with `seal` ([`seal_from_env`]).
pub async fn record(config: &Config, v: &NewResult<'_>, seal: Option<&SecretKey>) -> Result<Option<Recorded>> {
    if config.env(v.env)?.mode() != Mode::Pull {
        return Ok(None);
    }
    record_in(&open_store(config, false).await?, config, v, seal).await.map(Some)
}

/// [`record`] into `store` (a server's own store), `v.env` known to be a
/// pull environment of `config`.
pub async fn record_in(
    store: &Store,
    config: &Config,
    v: &NewResult<'_>,
    seal: Option<&SecretKey>,
) -> Result<Recorded> {
    let trust = trust(config)?;
    let (app, env) = (v.app, v.env);
    let blessing_of = |bytes: &[u8]| {
        let envelope = Envelope::from_bytes(bytes).ok()?;
        match &trust {
            Some(t) => haul_bless::verify(&envelope, t, app, env, None, jiff::Timestamp::now()).ok(),
            None => envelope.unverified_blessing().ok(),
        }
    };
    Ok(haul_store::verifications::record(store, v, seal, blessing_of).await?)
}

/// The report key a recorder of verifications seals with: the secret key
/// file `HAUL_REPORT_KEY` names (the variable agents seal their reports
/// with), when set.
pub fn seal_from_env() -> Result<Option<SecretKey>> {
    match std::env::var_os("HAUL_REPORT_KEY") {
        None => Ok(None),
        Some(p) if p.is_empty() => Ok(None),
        Some(p) => Ok(Some(SecretKey::read(std::path::Path::new(&p))?)),
    }
}

/// What to tell whoever reported `name`, when the store took no result.
pub fn note(name: &str, recorded: &Recorded) -> Option<String> {
    match recorded {
        Recorded::Written(_) => None,
        Recorded::NoBlessing => {
            Some(format!("no blessing in the store names this deployment; agents will not see `{name}`"))
        }
        Recorded::Unnameable => Some(format!("`{name}` cannot name an object in the store; no wave can wait for it")),
        Recorded::Unsealed(why) => {
            Some(format!("{why}: `{name}` is not written to the store, and no wave waiting for it goes on"))
        }
    }
}

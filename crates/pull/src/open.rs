//! What every controller command of a pull environment starts from:
//! the store `[store]` names (refusing one that overwrites before anything
//! is written), the environment (which must deploy by pull), the keys, and
//! a stored blessing read back and judged.

use crate::{PullError, Result};
use haul_bless::{Blessing, Envelope, PublicKey, Refusal, SecretKey, Trust};
use haul_config::{Config, Environment, Mode};
use haul_store::reports::Reporters;
use haul_store::{Store, StoreOptions};

/// Opens the store `config` names. `writes`: the caller writes to it, so
/// the store must first show that it refuses a second create of one key.
pub async fn open_store(config: &Config, writes: bool) -> Result<Store> {
    let s = &config.store;
    let options = StoreOptions {
        endpoint: s.endpoint.as_ref().map(|e| e.get_ref().clone()),
        region: s.region.clone(),
        allow_http: s.allow_http,
        timeout: None,
    };
    let store = Store::open(&config.store_url(), &options)?;
    if writes {
        store.check_refuses_overwrite().await?;
    }
    Ok(store)
}

/// The environment `env`, which must deploy by pull.
pub fn pull_env<'a>(config: &'a Config, env: &str) -> Result<&'a Environment> {
    let e = config.env(env)?;
    if e.mode() != Mode::Pull {
        return Err(PullError::NotPull { env: env.to_string() });
    }
    Ok(e)
}

/// The secret keys of `[keys] sign`, every one of them read.
pub fn signing_keys(config: &Config) -> Result<Vec<SecretKey>> {
    let paths = config.signing_keys();
    if paths.is_empty() {
        return Err(PullError::NoSigningKey { config: config.path.clone() });
    }
    paths.iter().map(|p| SecretKey::read(p).map_err(PullError::from)).collect()
}

/// The public keys of `env`'s `report_keys`, every one of them read: what
/// agents seal their store reports and claims with, carried in each
/// blessing so agents check one another's.
pub fn report_keys(config: &Config, env: &str) -> Result<Vec<PublicKey>> {
    config.report_keys(env).iter().map(|p| PublicKey::read(p).map_err(PullError::from)).collect()
}

/// Who may speak for `env`'s hosts in the store, by its `report_keys`.
pub fn reporters(config: &Config, env: &str) -> Result<Reporters> {
    Ok(Reporters::of(report_keys(config, env)?))
}

/// Who may speak for `env`'s hosts as a controller reads the store, given
/// `blessed`, the environment's latest blessing: the rule its agents follow
/// ([`Reporters::of_blessing`]) when keys trusted here signed it; `env`'s
/// `report_keys` in this file when it names none. A blessing that names
/// report keys but is not verified here still makes the reader want seals,
/// by this file's keys (none listed: no one is believed), so neither a
/// forged blessing nor a file that lags the blessing widens who is taken.
pub fn reporters_for(config: &Config, env: &str, blessed: Option<&Read>) -> Result<Reporters> {
    match blessed {
        Some(r) if !r.doc.report_keys.is_empty() => match r.verified {
            Ok(true) => Ok(Reporters::of_blessing(&r.doc)),
            _ => Ok(Reporters::Sealed(report_keys(config, env)?)),
        },
        _ => reporters(config, env),
    }
}

/// [`reporters_for`] with `app` in `env`'s latest blessing, read now and
/// judged with `trust` ([`trust`]).
pub async fn reporters_now(
    config: &Config,
    store: &Store,
    trust: Option<&Trust>,
    app: &str,
    env: &str,
) -> Result<Reporters> {
    let read = match haul_store::blessings::latest(store, app, env).await? {
        Some((_, bytes)) => read_blessing(&bytes, trust, app, env).ok(),
        None => None,
    };
    reporters_for(config, env, read.as_ref())
}

/// The keys blessings are checked with here: `[keys] trust` when listed,
/// else the public halves of the signing keys (what this project signs
/// with). `None` when neither is configured.
pub fn trust(config: &Config) -> Result<Option<Trust>> {
    let trusted = config.trusted_keys();
    if !trusted.is_empty() {
        let keys = trusted.iter().map(|p| PublicKey::read(p)).collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(Some(Trust { keys, threshold: config.trust_threshold() }));
    }
    let paths = config.signing_keys();
    if paths.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for p in &paths {
        // A signing key that cannot be read leaves the others to judge.
        if let Ok(k) = SecretKey::read(p) {
            keys.push(k.public());
        }
    }
    Ok((!keys.is_empty()).then_some(Trust { keys, threshold: 1 }))
}

/// A stored blessing as read back here.
pub struct Read {
    pub doc: Blessing,
    /// `Ok(true)`: signed by enough trusted keys; `Ok(false)`: no keys to
    /// check with; `Err`: checked and refused.
    pub verified: std::result::Result<bool, Refusal>,
}

impl Read {
    pub fn label(&self) -> String {
        match &self.verified {
            Ok(true) => "verified".into(),
            Ok(false) => "unverified".into(),
            Err(r) => format!("REFUSED: {r}"),
        }
    }
}

/// Decodes a stored envelope and judges it with `trust`: its signatures,
/// app and environment, at the time it was issued (an expired blessing is
/// still what the store says was blessed; agents judge expiry themselves).
pub fn read_blessing(bytes: &[u8], trust: Option<&Trust>, app: &str, env: &str) -> std::result::Result<Read, Refusal> {
    let envelope = Envelope::from_bytes(bytes)?;
    let doc = payload(&envelope)?;
    let verified = match trust {
        None => Ok(false),
        Some(t) => haul_bless::verify(&envelope, t, app, env, None, doc.issued).map(|_| true),
    };
    Ok(Read { doc, verified })
}

/// The document an envelope carries, unverified.
fn payload(envelope: &Envelope) -> std::result::Result<Blessing, Refusal> {
    use base64::Engine;
    let json = base64::engine::general_purpose::STANDARD
        .decode(envelope.payload.as_bytes())
        .map_err(|e| Refusal::Malformed(format!("the payload is not base64: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| Refusal::Malformed(e.to_string()))
}

/// "3m 20s ago", for last contacts.
pub fn ago(at: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = now.duration_since(at).as_secs().max(0) as u64;
    let d = haul_config::Duration::secs(secs);
    format!("{d} ago")
}

/// A phase as reports spell it.
pub fn phase(p: haul_store::reports::AgentPhase) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

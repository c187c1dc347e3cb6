//! The environment's verifications of a pull deployment, where agents can
//! read them: `haul verify` (and a server's verify route) records a
//! verification in the ledger, and, for a pull environment, here too, by
//! [`record`] alone. A wave that names verifications waits for them: its
//! later waves switch only once each has passed for this blessing version.
//!
//! One object per (blessing version, name),
//! `verifications/<app>/<env>/<version>/<name>.json`, overwritten by each
//! new result of that name: the newest result of a name is the one that
//! stands, the ledger's rule (a flaky smoke test that failed and then
//! passed lets the waves go on). Two people reporting the same name at the
//! same instant leave whichever write landed last.
//!
//! Whoever may write the store may write a `pass` there. When the blessing
//! lists report keys, a result is written sealed by one of them and read
//! only sealed ([`Reporters`], the agents' reports' rule): the recorder
//! (`haul verify`, the server) holds a report key (`HAUL_REPORT_KEY`), and
//! without one it writes nothing rather than a result no agent believes.

use crate::reports::{Reporters, sealed};
use crate::{Store, StoreError, keys};
use haul_bless::{Blessing, SecretKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest verification object read.
const MAX_VERIFICATION: u64 = 64 << 10;
/// Blessings looked through for the deployment's version, newest first.
const LOOK_BACK: usize = 64;

/// A verification's result, in the ledger's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Error,
}

/// One verification of a blessing version's deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVerification {
    pub app: String,
    pub env: String,
    /// The blessing version the deployment was blessed with.
    pub version: u64,
    /// The ledger's deployment.
    pub deployment: i64,
    pub name: String,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub reporter: String,
    pub at: Timestamp,
}

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Written for this blessing version.
    Written(u64),
    /// No blessing of the environment names the deployment (a push
    /// deployment, or one blessed long ago): nothing to write.
    NoBlessing,
    /// The name cannot be part of a key; no wave can name it either
    /// (`haul.toml` refuses such names in `verifications`).
    Unnameable,
    /// The blessing lists report keys and the recorder holds none of them
    /// (the reason): nothing written, since no agent would believe it.
    Unsealed(String),
}

/// A verification to record.
#[derive(Debug, Clone)]
pub struct NewResult<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub deployment: i64,
    pub name: &'a str,
    pub result: Outcome,
    pub link: Option<&'a str>,
    pub reporter: &'a str,
}

/// Records `v` in the store for the blessing version its deployment was
/// blessed with: the newest blessing of the environment whose document
/// names that deployment, sealed with `seal` when that blessing lists
/// report keys. `blessing_of` reads an envelope's bytes into the blessing
/// it holds (the caller judges envelopes; this crate does not), `None` for
/// one it cannot read or does not trust.
pub async fn record(
    store: &Store,
    v: &NewResult<'_>,
    seal: Option<&SecretKey>,
    blessing_of: impl Fn(&[u8]) -> Option<Blessing>,
) -> Result<Recorded, StoreError> {
    if keys::component("verification", v.name).is_err() {
        return Ok(Recorded::Unnameable);
    }
    let history = crate::blessings::history(store, v.app, v.env, LOOK_BACK).await?;
    let found = history.iter().find_map(|(version, bytes)| {
        blessing_of(bytes)
            // The document's own version, not only its key's: a blessing
            // copied under a newer version must not receive the result
            // (it would stand for whatever is later blessed as that version).
            .filter(|b| b.app == v.app && b.env == v.env && b.version == *version && b.deployment == Some(v.deployment))
            .map(|b| (*version, b))
    });
    let Some((version, blessing)) = found else {
        return Ok(Recorded::NoBlessing);
    };
    let seal = match (Reporters::of_blessing(&blessing), seal) {
        (Reporters::Anyone, seal) => seal,
        (Reporters::Sealed(_), None) => {
            return Ok(Recorded::Unsealed(
                "the environment lists report keys and no report key is given here (HAUL_REPORT_KEY)".into(),
            ));
        }
        (Reporters::Sealed(listed), Some(k)) if !listed.iter().any(|l| l.id() == k.public().id()) => {
            return Ok(Recorded::Unsealed(format!(
                "report key {} (HAUL_REPORT_KEY) is not among the report keys blessing {version} lists",
                k.public().id()
            )));
        }
        (Reporters::Sealed(_), seal) => seal,
    };
    let stored = StoredVerification {
        app: v.app.to_string(),
        env: v.env.to_string(),
        version,
        deployment: v.deployment,
        name: v.name.to_string(),
        result: v.result,
        link: v.link.map(str::to_string),
        reporter: v.reporter.to_string(),
        at: Timestamp::now(),
    };
    write(store, &stored, seal).await?;
    Ok(Recorded::Written(version))
}

/// Writes `v` as the standing result of its name for its version, sealed
/// with `seal` when given.
pub async fn write(store: &Store, v: &StoredVerification, seal: Option<&SecretKey>) -> Result<(), StoreError> {
    let key = keys::verification(
        keys::component("app", &v.app)?,
        keys::component("environment", &v.env)?,
        v.version,
        keys::component("verification", &v.name)?,
    );
    store.overwrite(&key, sealed(serde_json::to_vec(v).expect("a verification serializes"), seal)).await
}

/// The standing result of each verification of blessing `version`, whose
/// deployment is `deployment`, by name. An object that cannot be read, or
/// that speaks for another key or deployment, is an error naming it: a wave
/// must not take a garbled result as missing and wait, nor as passed. So is
/// one `reporters` do not take (for the blessing's agents,
/// [`Reporters::of_blessing`]): a forged `pass` lets no wave go on.
pub async fn read(
    store: &Store,
    app: &str,
    env: &str,
    version: u64,
    deployment: Option<i64>,
    reporters: &Reporters,
) -> Result<BTreeMap<String, StoredVerification>, StoreError> {
    let prefix = keys::verifications(keys::component("app", app)?, keys::component("environment", env)?, version);
    let mut out = BTreeMap::new();
    for key in store.list_keys(&prefix).await? {
        let Some(bytes) = store.get(&key, MAX_VERIFICATION).await? else { continue };
        let corrupt = |message: String| StoreError::Corrupt { url: store.url().into(), key: key.clone(), message };
        let bytes = reporters.open(&bytes).map_err(corrupt)?;
        let v: StoredVerification = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let home = keys::component("verification", &v.name).map(|n| keys::verification(app, env, version, n));
        if v.app != app
            || v.env != env
            || v.version != version
            || Some(v.deployment) != deployment
            || home.ok().as_deref() != Some(key.as_str())
        {
            return Err(corrupt(format!(
                "it is verification {:?} of {} in {} version {} (deployment {})",
                v.name, v.app, v.env, v.version, v.deployment
            )));
        }
        out.insert(v.name.clone(), v);
    }
    Ok(out)
}

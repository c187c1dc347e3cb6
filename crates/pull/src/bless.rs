//! Choosing and publishing a blessing: the release it names (given, the
//! one the current blessing replaced, or the newest spooled one built
//! here), the refusal of a quarantined release, and the signed document
//! written as the newest version + 1, create-if-absent, so of two
//! blessers at once one wins and the other is told who did.

use crate::{PullError, Result, doc, read_blessing, report_keys, signing_keys, trust};
use haul_bless::{Blessing, Envelope};
use haul_config::Config;
use haul_deploy::{Observer, Progress};
use haul_release::ReleaseId;
use haul_store::{Created, Store, blessings, keys, spool};

/// Which release a blessing names.
pub enum Choice {
    Given(String),
    /// The release the current blessing replaced.
    Previous,
    /// The newest spooled release.
    Newest,
}

/// The release `choice` names, checked.
pub async fn choose(config: &Config, store: &Store, app: &str, env: &str, choice: Choice) -> Result<ReleaseId> {
    match choice {
        Choice::Given(id) => Ok(ReleaseId::parse(&id)?),
        Choice::Previous => previous(config, store, app, env).await,
        Choice::Newest => newest_spooled_here(config, store, app).await,
    }
}

/// The newest spooled release that this machine's release cache also has.
/// The store's listing alone does not choose: anyone who can write to the
/// store can spool a release whose id sorts after every real one, and
/// "the newest" would have the signer sign it.
async fn newest_spooled_here(config: &Config, store: &Store, app: &str) -> Result<ReleaseId> {
    let listed = store.list_keys(&keys::releases(keys::component("app", app)?)).await?;
    let mut ids: Vec<ReleaseId> = listed
        .iter()
        .filter_map(|k| k.strip_suffix("/index.json"))
        .filter_map(|k| k.rsplit('/').next())
        .filter_map(|id| ReleaseId::parse(id).ok())
        .collect();
    if ids.is_empty() {
        return Err(PullError::NoneSpooled { app: app.into(), store: store.url().to_string() });
    }
    ids.sort_by(|a, b| b.as_str().cmp(a.as_str()));
    let cache = haul_release::ReleaseCache::new(config.cache_dir());
    ids.into_iter()
        .find(|id| cache.get(app, id.as_str()).is_ok())
        .ok_or_else(|| PullError::NoneBuiltHere { app: app.into(), store: store.url().to_string() })
}

/// When this machine's cache has release `id`, the store's index must
/// describe that very release (its manifest digest and record): otherwise
/// a store writer who spooled other bytes under the id first would have
/// them signed.
fn check_against_cache(config: &Config, app: &str, index: &spool::SpoolIndex) -> Result {
    let cache = haul_release::ReleaseCache::new(config.cache_dir());
    let Ok(local) = cache.get(app, index.id.as_str()) else { return Ok(()) };
    let record = blake3::hash(local.to_lines().as_bytes()).to_hex().to_string();
    if index.digest != local.digest || index.record.blake3 != record {
        return Err(PullError::NotBuiltHere {
            app: app.into(),
            release: index.id.clone(),
            stored: index.digest.clone(),
            local: local.digest.clone(),
        });
    }
    Ok(())
}

/// The release the current blessing replaced, from a blessing that
/// verifies (a forged `previous` must not choose what gets signed).
pub async fn previous(config: &Config, store: &Store, app: &str, env: &str) -> Result<ReleaseId> {
    let (a, e) = (app.to_string(), env.to_string());
    let Some((version, bytes)) = blessings::latest(store, app, env).await? else {
        return Err(PullError::NeverBlessed { app: a, env: e });
    };
    let trust = trust(config)?;
    let read = read_blessing(&bytes, trust.as_ref(), app, env).map_err(|refusal| PullError::Unreadable {
        app: a.clone(),
        env: e.clone(),
        version,
        refusal,
    })?;
    match &read.verified {
        // Signed, but as another version than the object holding it: an
        // older blessing copied under a newer number, whose `previous` is
        // not what the newest blessing replaced.
        Ok(true) if read.doc.version != version => {
            return Err(PullError::Renumbered { app: a, env: e, version, signed: read.doc.version });
        }
        Ok(true) => {}
        Ok(false) => return Err(PullError::NoTrust { app: a, env: e, version }),
        Err(r) => return Err(PullError::DoesNotVerify { app: a, env: e, version, refusal: r.clone() }),
    }
    read.doc.previous.ok_or(PullError::NoPrevious { app: a, env: e, version, release: read.doc.release })
}

/// Refuses a quarantined release unless forced, as the gate does for
/// push. `quarantined`: the releases the ledger has quarantined in `env`.
pub fn refuse_quarantined(quarantined: &[String], app: &str, env: &str, id: &ReleaseId, force: bool) -> Result {
    if quarantined.iter().any(|r| r == id.as_str()) && !force {
        return Err(PullError::Quarantined { app: app.into(), env: env.into(), release: id.clone() });
    }
    Ok(())
}

/// What a blessing says besides the release and the config.
pub struct Bless<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub app: &'a str,
    pub env: &'a str,
    /// Who blesses: a user, or the token a deploy request came with.
    pub by: &'a str,
    pub reason: Option<String>,
    /// The ledger deployment the blessing is part of.
    pub deployment: Option<i64>,
}

/// Signs and publishes a blessing of spooled release `id`: the newest
/// version plus one, `previous` the release currently blessed. Losing the
/// race to another blessing of that version is [`PullError::Lost`],
/// naming the winner. A newest blessing that cannot be taken as what is
/// blessed now is told to `observer` as a warning.
pub async fn publish(observer: &dyn Observer, b: &Bless<'_>, id: &ReleaseId) -> Result<Blessing> {
    let (store, app, env) = (b.store, b.app, b.env);
    let Some(index) = spool::index(store, app, id).await? else {
        return Err(PullError::NotSpooled { app: app.into(), release: id.clone(), store: store.url().to_string() });
    };
    check_against_cache(b.config, app, &index)?;
    let keys = signing_keys(b.config)?;
    let reporters = report_keys(b.config, env)?;
    let trust = trust(b.config)?;
    let warn = |w: String| observer.progress(Progress::Warn(&w));
    let (version, previous) = match blessings::latest(store, app, env).await? {
        None => (1, None),
        Some((v, bytes)) => {
            // The version after the newest object's; an object at the very
            // last version (only a writer without the key puts one there)
            // leaves no room, and wrapping would write version 0.
            let next =
                v.checked_add(1).ok_or(PullError::LastVersion { app: app.into(), env: env.into(), version: v })?;
            match read_blessing(&bytes, trust.as_ref(), app, env) {
                // Only a document that verifies, signed as the version of
                // the object it is in, says what is blessed now.
                Ok(r) if matches!(r.verified, Ok(true)) && r.doc.version == v => (next, Some(r.doc.release)),
                Ok(r) if matches!(r.verified, Ok(true)) => {
                    warn(format!(
                        "blessing version {v} of {app} in {env} holds a document signed as version {}; it is not taken as what is blessed",
                        r.doc.version
                    ));
                    (next, None)
                }
                Ok(r) => {
                    warn(format!("blessing version {v} of {app} in {env}: {}", r.label()));
                    (next, None)
                }
                Err(e) => {
                    warn(format!("blessing version {v} of {app} in {env} cannot be read: {e}"));
                    (next, None)
                }
            }
        }
    };
    let intent = doc::Intent {
        version,
        previous,
        by: b.by.to_string(),
        reason: b.reason.clone(),
        deployment: b.deployment,
        now: jiff::Timestamp::now(),
        report_keys: reporters.iter().map(|k| k.to_line().trim_end().to_string()).collect(),
    };
    let doc = doc::blessing(b.config, app, env, &index, intent);
    let refs: Vec<&haul_bless::SecretKey> = keys.iter().collect();
    let envelope = Envelope::sign(&doc, &refs);
    match blessings::publish(store, app, env, version, envelope.to_bytes().into()).await? {
        Created::New => Ok(doc),
        Created::Exists => Err(lost(store, trust.as_ref(), app, env, version).await),
    }
}

/// The error of a blessing that lost the race for `version`.
async fn lost(store: &Store, trust: Option<&haul_bless::Trust>, app: &str, env: &str, version: u64) -> PullError {
    let winner = match blessings::get(store, app, env, version).await {
        Ok(Some(bytes)) => match read_blessing(&bytes, trust, app, env) {
            Ok(r) => format!("release {} by {} ({})", r.doc.release, r.doc.by, r.label()),
            Err(e) => format!("a blessing that cannot be read ({e})"),
        },
        Ok(None) => "a blessing since removed".into(),
        // Not the store's error: it names the store's URL, and the
        // server answers this text to its clients.
        Err(_) => "a blessing the store failed to give back".into(),
    };
    PullError::Lost { app: app.into(), env: env.into(), version, winner }
}

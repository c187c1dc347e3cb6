//! `haul bless APP ENV [RELEASE] [--previous]`: a new signed version of
//! what a pull environment runs. The version is the newest + 1 and is
//! written create-if-absent, so of two people blessing at once one wins
//! and the other is told who did.

use super::{doc, open_store, pull_env, read_blessing, signing_keys, trust};
use crate::commands::Ctx;
use crate::error::{Failure, Result};
use haul_bless::{Blessing, Envelope};
use haul_config::Config;
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

pub struct BlessArgs {
    pub release: Choice,
    pub reason: Option<String>,
    pub force: bool,
    pub json: bool,
}

pub async fn bless(ctx: &Ctx, app: &str, env: &str, args: BlessArgs) -> Result {
    let BlessArgs { release, reason, force, json } = args;
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    pull_env(&config, env)?;
    if force && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("--force needs a --reason saying why".into()));
    }
    let store = open_store(&config, true).await?;
    let id = choose(&config, &store, app, env, release).await?;
    let ledger = haul_record::open(&config).await?;
    refuse_quarantined(&ledger, app, env, &id, force).await?;
    let doc = publish(ctx, &config, &store, app, env, &id, reason, None).await?;
    if json {
        ctx.printer.json(&serde_json::json!({
            "app": doc.app, "env": doc.env, "version": doc.version, "release": doc.release,
            "previous": doc.previous, "expires": doc.expires.to_string(), "by": doc.by,
        }));
    } else {
        ctx.printer.out(&format!(
            "blessed {app} {} for {env}: version {} (expires {})",
            doc.release, doc.version, doc.expires
        ));
    }
    Ok(())
}

/// The release `choice` names, checked.
pub async fn choose(config: &Config, store: &Store, app: &str, env: &str, choice: Choice) -> Result<ReleaseId> {
    match choice {
        Choice::Given(id) => Ok(ReleaseId::parse(&id).map_err(haul_deploy::DeployError::from)?),
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
        return Err(Failure::Usage(format!(
            "no release of `{app}` is spooled in {}: `haul spool {app}` first",
            store.url()
        )));
    }
    ids.sort_by(|a, b| b.as_str().cmp(a.as_str()));
    let cache = haul_release::ReleaseCache::new(config.cache_dir());
    ids.into_iter().find(|id| cache.get(app, id.as_str()).is_ok()).ok_or_else(|| {
        Failure::Usage(format!(
            "none of the releases of `{app}` spooled in {} was built or imported here: name the one to bless (`haul bless {app} ENV RELEASE`)",
            store.url()
        ))
    })
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
        return Err(Failure::Run(format!(
            "release {} of {app} in the store is not the one built here (its manifest digest is {}, this one's is {}); it is not blessed",
            index.id, index.digest, local.digest
        )));
    }
    Ok(())
}

/// The release the current blessing replaced, from a blessing that
/// verifies (a forged `previous` must not choose what gets signed).
async fn previous(config: &Config, store: &Store, app: &str, env: &str) -> Result<ReleaseId> {
    let Some((version, bytes)) = blessings::latest(store, app, env).await? else {
        return Err(Failure::Usage(format!("{app} has never been blessed for {env}: there is no previous release")));
    };
    let trust = trust(config)?;
    let read = read_blessing(&bytes, trust.as_ref(), app, env)
        .map_err(|r| Failure::Run(format!("blessing version {version} of {app} in {env} cannot be read: {r}")))?;
    match &read.verified {
        // Signed, but as another version than the object holding it: an
        // older blessing copied under a newer number, whose `previous` is
        // not what the newest blessing replaced.
        Ok(true) if read.doc.version != version => {
            return Err(Failure::Run(format!(
                "blessing version {version} of {app} in {env} holds a document signed as version {}; its `previous` is not followed",
                read.doc.version
            )));
        }
        Ok(true) => {}
        Ok(false) => {
            return Err(Failure::Usage(format!(
                "no key to verify blessing version {version} of {app} in {env} with: list them in [keys] trust or sign"
            )));
        }
        Err(r) => {
            return Err(Failure::Run(format!(
                "blessing version {version} of {app} in {env} does not verify ({r}); its `previous` is not followed"
            )));
        }
    }
    read.doc.previous.ok_or_else(|| {
        Failure::Usage(format!(
            "blessing version {version} of {app} in {env} ({}) replaced nothing: there is no previous release",
            read.doc.release
        ))
    })
}

/// Refuses a quarantined release unless forced, as the gate does for push.
pub async fn refuse_quarantined(
    ledger: &haul_record::Client,
    app: &str,
    env: &str,
    id: &ReleaseId,
    force: bool,
) -> Result {
    let q = ledger.quarantined(app, env).await?;
    if q.iter().any(|r| r == id.as_str()) && !force {
        return Err(Failure::Run(format!(
            "release {id} of {app} is quarantined; it is not blessed (--force --reason R to break glass)"
        )));
    }
    Ok(())
}

/// Signs and publishes a blessing of spooled release `id`: the newest
/// version plus one, `previous` the release currently blessed. Losing the
/// race to another blessing of that version is an error naming the winner.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    ctx: &Ctx,
    config: &Config,
    store: &Store,
    app: &str,
    env: &str,
    id: &ReleaseId,
    reason: Option<String>,
    deployment: Option<i64>,
) -> Result<Blessing> {
    let Some(index) = spool::index(store, app, id).await? else {
        return Err(Failure::Usage(format!(
            "release {id} of {app} is not spooled in {}: `haul spool {app} --release {id}` first",
            store.url()
        )));
    };
    check_against_cache(config, app, &index)?;
    let keys = signing_keys(config)?;
    let trust = trust(config)?;
    let (version, previous) = match blessings::latest(store, app, env).await? {
        None => (1, None),
        Some((v, bytes)) => {
            // The version after the newest object's; an object at the very
            // last version (only a writer without the key puts one there)
            // leaves no room, and wrapping would write version 0.
            let next = v.checked_add(1).ok_or_else(|| {
                Failure::Run(format!(
                    "blessing version {v} of {app} in {env} is the last version there can be; it was not written by `haul bless`: remove it"
                ))
            })?;
            match read_blessing(&bytes, trust.as_ref(), app, env) {
                // Only a document that verifies, signed as the version of
                // the object it is in, says what is blessed now.
                Ok(r) if matches!(r.verified, Ok(true)) && r.doc.version == v => (next, Some(r.doc.release)),
                Ok(r) if matches!(r.verified, Ok(true)) => {
                    ctx.printer.err(&format!(
                        "warning: blessing version {v} of {app} in {env} holds a document signed as version {}; it is not taken as what is blessed",
                        r.doc.version
                    ));
                    (next, None)
                }
                Ok(r) => {
                    ctx.printer.err(&format!("warning: blessing version {v} of {app} in {env}: {}", r.label()));
                    (next, None)
                }
                Err(e) => {
                    ctx.printer.err(&format!("warning: blessing version {v} of {app} in {env} cannot be read: {e}"));
                    (next, None)
                }
            }
        }
    };
    let intent = doc::Intent {
        version,
        previous,
        by: haul_deploy::Whoami::current().user,
        reason,
        deployment,
        now: jiff::Timestamp::now(),
    };
    let doc = doc::blessing(config, app, env, &index, intent);
    let refs: Vec<&haul_bless::SecretKey> = keys.iter().collect();
    let envelope = Envelope::sign(&doc, &refs);
    match blessings::publish(store, app, env, version, envelope.to_bytes().into()).await? {
        Created::New => Ok(doc),
        Created::Exists => Err(lost(store, trust.as_ref(), app, env, version).await),
    }
}

/// The message of a blessing that lost the race for `version`.
async fn lost(store: &Store, trust: Option<&haul_bless::Trust>, app: &str, env: &str, version: u64) -> Failure {
    let winner = match blessings::get(store, app, env, version).await {
        Ok(Some(bytes)) => match read_blessing(&bytes, trust, app, env) {
            Ok(r) => format!("release {} by {} ({})", r.doc.release, r.doc.by, r.label()),
            Err(e) => format!("a blessing that cannot be read ({e})"),
        },
        Ok(None) => "a blessing since removed".into(),
        Err(e) => format!("a blessing that cannot be read ({e})"),
    };
    Failure::Run(format!(
        "another blessing won: version {version} of {app} in {env} is {winner}; nothing was written (bless again for version {})",
        version + 1
    ))
}

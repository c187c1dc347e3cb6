//! Blessing versions in the store: each version is its own object written
//! create-if-absent, so of two people blessing version N+1 exactly one wins
//! (on every backend, `file://` included) and the other is told. A `latest`
//! hint beside them (a copy of the newest envelope, replaced with If-Match
//! where the backend has it) lets an agent poll with If-None-Match: an
//! unchanged pointer costs one small request. The versioned objects are the
//! truth; the hint only saves requests.
//!
//! The hint is `{"version":N,"envelope":<the envelope's JSON>}`, so a
//! writer knows whether it would move it backwards without understanding
//! envelopes (this crate does not judge them: `haul-bless` does). Every
//! `publish`, winner or loser, moves the hint to the newest version listed,
//! so a blesser killed between its two writes is healed by the next one.
//! Where the backend has no If-Match (`file://`) the hint is overwritten and
//! then re-read against a fresh listing until it is the newest: a racing
//! writer can make it lag for a moment, never leave it behind.

use crate::{Created, Fetched, Store, StoreError, keys};
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

/// The largest envelope read.
pub const MAX_ENVELOPE: u64 = 1 << 20;

/// The hint's largest size: an envelope and its version.
const MAX_HINT: u64 = MAX_ENVELOPE + 64;

/// How many times a hint update starts over after losing a race before it
/// leaves the hint to the writer that keeps winning.
const HINT_ROUNDS: usize = 64;

fn prefix(app: &str, env: &str) -> Result<String, StoreError> {
    Ok(keys::blessings(keys::component("app", app)?, keys::component("environment", env)?))
}

/// The versions present under `prefix`, ascending; `latest` is skipped and
/// any other name is an error naming it (nothing else belongs there).
async fn versions(store: &Store, prefix: &str) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for key in store.list_keys(prefix).await? {
        let name = key.strip_prefix(prefix).unwrap_or(&key);
        if name == "latest" {
            continue;
        }
        let version = name
            .strip_suffix(".json")
            .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                url: store.url().into(),
                key: key.clone(),
                message: "is not a blessing version (`<20 digits>.json`) and does not belong here".into(),
            })?;
        out.push(version);
    }
    out.sort_unstable();
    Ok(out)
}

/// The newest version of `app` in `env` and its envelope's bytes (from a
/// listing: authoritative).
pub async fn latest(store: &Store, app: &str, env: &str) -> Result<Option<(u64, Bytes)>, StoreError> {
    let prefix = prefix(app, env)?;
    for version in versions(store, &prefix).await?.into_iter().rev() {
        if let Some(bytes) = get(store, app, env, version).await? {
            return Ok(Some((version, bytes)));
        }
    }
    Ok(None)
}

/// Version `version`'s envelope, if written.
pub async fn get(store: &Store, app: &str, env: &str, version: u64) -> Result<Option<Bytes>, StoreError> {
    let key = keys::blessing(keys::component("app", app)?, keys::component("environment", env)?, version);
    store.get(&key, MAX_ENVELOPE).await
}

/// Writes `envelope` as version `version` if no blessing of that version
/// exists, then moves the hint forward (never backward). `Created::Exists`
/// means another blessing of that version won: read it with [`get`] to tell
/// who. The hint is moved in both cases.
pub async fn publish(
    store: &Store,
    app: &str,
    env: &str,
    version: u64,
    envelope: Bytes,
) -> Result<Created, StoreError> {
    let key = keys::blessing(keys::component("app", app)?, keys::component("environment", env)?, version);
    if envelope.len() as u64 > MAX_ENVELOPE {
        return Err(StoreError::TooLarge {
            url: store.url().into(),
            key,
            size: envelope.len() as u64,
            max: MAX_ENVELOPE,
        });
    }
    if serde_json::from_slice::<serde_json::Value>(&envelope).is_err() {
        return Err(StoreError::Corrupt {
            url: store.url().into(),
            key,
            message: "the envelope to write is not JSON".into(),
        });
    }
    let created = store.create(&key, envelope).await?;
    advance_hint(store, app, env).await?;
    Ok(created)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Hint {
    version: u64,
    envelope: serde_json::Value,
}

fn hint_bytes(version: u64, envelope: &[u8]) -> Bytes {
    let mut out = format!("{{\"version\":{version},\"envelope\":").into_bytes();
    out.extend_from_slice(envelope);
    out.push(b'}');
    Bytes::from(out)
}

/// Reads the hint: its version (0 when missing or unreadable: replaced) and
/// its entity tag.
async fn read_hint(store: &Store, rel: &str) -> Result<Option<(u64, Option<String>)>, StoreError> {
    match store.fetch(rel, None, MAX_HINT).await {
        Ok(Fetched::Body { bytes, etag }) => {
            let version = serde_json::from_slice::<Hint>(&bytes).map(|h| h.version).unwrap_or(0);
            Ok(Some((version, etag)))
        }
        Ok(Fetched::Missing) => Ok(None),
        Ok(Fetched::Unchanged) => unreachable!("no entity tag was given"),
        // An oversized hint is not one: replace it.
        Err(StoreError::TooLarge { .. }) => Ok(Some((0, None))),
        Err(e) => Err(e),
    }
}

/// Moves the hint to the newest listed version until a read of it after a
/// listing finds it there.
async fn advance_hint(store: &Store, app: &str, env: &str) -> Result<(), StoreError> {
    let rel = keys::blessing_hint(app, env);
    let prefix = keys::blessings(app, env);
    for _ in 0..HINT_ROUNDS {
        let newest = versions(store, &prefix).await?.last().copied();
        let Some(newest) = newest else { return Ok(()) };
        let current = read_hint(store, &rel).await?;
        if matches!(current, Some((v, _)) if v >= newest) {
            return Ok(());
        }
        let Some(envelope) = get(store, app, env, newest).await? else { continue };
        let body = PutPayload::from_bytes(hint_bytes(newest, &envelope));
        let mode = match &current {
            None => PutMode::Create,
            Some((_, etag @ Some(_))) => PutMode::Update(UpdateVersion { e_tag: etag.clone(), version: None }),
            Some((_, None)) => PutMode::Overwrite,
        };
        let key = store.key(&rel);
        match store.inner().put_opts(&key, body.clone(), PutOptions { mode, ..Default::default() }).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {}
            Err(object_store::Error::NotImplemented { .. }) => {
                store.inner().put(&key, body).await.map_err(|e| store.error(&rel, e))?;
            }
            Err(e) => return Err(store.error(&rel, e)),
        }
    }
    Ok(())
}

/// Reads the hint unless it still has entity tag `etag`. A body is the
/// newest envelope's bytes (unwrapped from the hint) with the hint's tag.
/// The hint is not the truth: when it is missing, unreadable, or older
/// than what the caller accepted (on `file://` it can lag for a moment
/// while blessers race), [`latest`] says what the newest version is.
pub async fn poll(store: &Store, app: &str, env: &str, etag: Option<&str>) -> Result<Fetched, StoreError> {
    let rel = keys::blessing_hint(keys::component("app", app)?, keys::component("environment", env)?);
    match store.fetch(&rel, etag, MAX_HINT).await? {
        Fetched::Body { bytes, etag } => {
            let hint: Hint = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                url: store.url().into(),
                key: rel.clone(),
                message: format!("the latest hint cannot be read: {e}"),
            })?;
            let envelope = serde_json::to_vec(&hint.envelope).expect("a JSON value serializes");
            Ok(Fetched::Body { bytes: Bytes::from(envelope), etag })
        }
        other => Ok(other),
    }
}

/// The last `n` versions, newest first (for `--previous`, purge and ls).
pub async fn history(store: &Store, app: &str, env: &str, n: usize) -> Result<Vec<(u64, Bytes)>, StoreError> {
    let prefix = prefix(app, env)?;
    let mut out = Vec::new();
    for version in versions(store, &prefix).await?.into_iter().rev() {
        if out.len() >= n {
            break;
        }
        if let Some(bytes) = get(store, app, env, version).await? {
            out.push((version, bytes));
        }
    }
    Ok(out)
}

//! `migrate_once`: exactly once per release per environment, before any
//! host switches to it. A host of the first wave with the migrating role
//! (any first-wave host when the blessing names none) claims it with a
//! create-if-absent write of `claims/<app>/<env>/<id>/migrate`: of many
//! claimers one wins, on every backend. The winner runs the steps and writes
//! `migrate.done` (or `migrate.failed` with the error); every other host
//! waits for `migrate.done` before it switches.
//!
//! A claimer that dies mid-migration leaves a claim with neither: the
//! migration may have half run, so nobody re-runs it by itself. It is
//! reported (by the claimer's host as failed, by the others as waiting on a
//! claim that has not finished); an operator who has looked at the database
//! removes the claim and the next round claims it again.
//!
//! When the blessing names report keys, the claim and both results are
//! sealed with the agent's (`HAUL_REPORT_KEY`) and only sealed ones are
//! believed: a `migrate.done` that any store writer put there would let
//! every host switch to a release whose migration never ran. A sealed
//! claim or result names the store key it was written for, and is believed
//! only there: a host's sealed report, or another release's (or
//! environment's) `migrate.done` or `migrate.failed`, copied into place,
//! is not. A `migrate.failed` not believed is named and otherwise ignored.

use crate::steps;
use crate::sync::{AppRun, Stop};
use haul_bless::Blessing;
use haul_store::reports::{Reporters, sealed};
use haul_store::{Created, keys};
use serde::{Deserialize, Serialize};

/// What a claim records.
#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    host: String,
    at: jiff::Timestamp,
    version: u64,
    /// The store key this was written for (`claims/<app>/<env>/<id>/<what>`),
    /// so a sealed record speaks only for that release's step. Older agents
    /// wrote none; with report keys listed such a record is not believed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// For `migrate.failed`: what failed. Older agents wrote the error as
    /// plain text instead of a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Whether the record at `key` is believed, and what it says when it is a
/// claim: the one reading of a claim or result. With report keys listed it
/// must be sealed by one and name `key` itself; otherwise any record is
/// believed (and read as a claim when it is one).
fn believe(reporters: &Reporters, key: &str, bytes: &[u8]) -> Result<Option<Claim>, String> {
    let payload = reporters.open(bytes)?;
    let claim = serde_json::from_slice::<Claim>(&payload);
    match reporters {
        Reporters::Anyone => Ok(claim.ok()),
        Reporters::Sealed(_) => match claim {
            Ok(c) if c.key.as_deref() == Some(key) => Ok(Some(c)),
            Ok(c) => Err(match c.key {
                Some(other) => format!("it was sealed for {other}, not for this key"),
                None => "it names no key it was written for".to_string(),
            }),
            Err(_) => Err("it is sealed but is not a migrate claim".to_string()),
        },
    }
}

const MAX_CLAIM: u64 = 64 << 10;

pub(crate) async fn once(run: &mut AppRun<'_>, b: &Blessing, release_dir: &str) -> Result<(), Stop> {
    let cfg = &run.agent.config;
    let roles = cfg.roles.clone();
    if b.steps.migrate_once.is_empty() {
        return Ok(());
    }
    let store = &run.agent.store;
    let (app, env, id) = (run.app, cfg.env.as_str(), b.release.as_str());
    let key = |what: &str| keys::claim(app, env, id, what);
    let err = |e: haul_store::StoreError| Stop::Failed(format!("migrate once: {e}"));
    let reporters = Reporters::of_blessing(b);
    if let Some(done) = store.get(&key("migrate.done"), MAX_CLAIM).await.map_err(err)? {
        return match believe(&reporters, &key("migrate.done"), &done) {
            Ok(_) => Ok(()),
            Err(why) => Err(Stop::Failed(format!(
                "migrate once of {id}: {} is not believed: {why}; no host switches on it. Check the migration, \
                 then remove it and the claim {}: the next round claims and runs the migration again",
                key("migrate.done"),
                key("migrate")
            ))),
        };
    }
    // A failure record not believed says nothing of the migration: it is
    // named, and the claim decides as if it were absent (a forged or
    // copied one neither stops the environment nor has an operator remove
    // a claim whose migration may be running or done).
    let mut unbelieved = String::new();
    if let Some(bytes) = store.get(&key("migrate.failed"), MAX_CLAIM).await.map_err(err)? {
        match believe(&reporters, &key("migrate.failed"), &bytes) {
            Ok(record) => {
                let why = record.and_then(|c| c.error).unwrap_or_else(|| {
                    String::from_utf8_lossy(&reporters.open(&bytes).unwrap_or_default()).trim().to_string()
                });
                return Err(Stop::Failed(format!(
                    "migrate once of {id} failed: {why} (remove {} and {} to run it again)",
                    key("migrate.failed"),
                    key("migrate")
                )));
            }
            Err(why) => unbelieved = format!(" ({} is not believed: {why})", key("migrate.failed")),
        }
    }
    let eligible = run.wave == Some(0) && b.steps.migrate_role.as_ref().is_none_or(|r| roles.contains(r));
    if !eligible {
        return Err(Stop::Waiting(match read_claim(run, b, &key("migrate")).await? {
            Some(c) => format!("waiting for migrate once of {id}, claimed by {} at {}{unbelieved}", c.host, c.at),
            None => format!("waiting for migrate once of {id} (not claimed yet){unbelieved}"),
        }));
    }
    let claim = Claim {
        host: cfg.host.clone(),
        at: jiff::Timestamp::now(),
        version: b.version,
        key: Some(key("migrate")),
        error: None,
    };
    let seal = run.agent.seal.as_ref();
    let body = sealed(serde_json::to_vec(&claim).expect("a claim serializes"), seal);
    match store.create(&key("migrate"), body).await.map_err(err)? {
        Created::Exists => {
            let c = read_claim(run, b, &key("migrate")).await?;
            return Err(match c {
                Some(c) if c.host == cfg.host => Stop::Failed(format!(
                    "migrate once of {id} was claimed by this host at {} and did not finish (the agent stopped during it); \
                     it is not run again by itself: check the migration, then remove {} to run it again",
                    c.at,
                    key("migrate")
                )),
                Some(c) => Stop::Waiting(format!(
                    "waiting for migrate once of {id}, claimed by {} at {}{unbelieved}",
                    c.host, c.at
                )),
                None => Stop::Waiting(format!("waiting for migrate once of {id}")),
            });
        }
        Created::New => {}
    }
    let env_vars = run.env(b);
    for s in &b.steps.migrate_once {
        let name = s.name.clone().unwrap_or_else(|| format!("migrate once: {}", s.run));
        if let Err(e) = steps::run(run.host(), &name, &s.run, release_dir, &env_vars).await {
            // The claim is this host's alone, so what is at `migrate.failed`
            // was not believed: the real failure takes its place.
            let failed = Claim {
                at: jiff::Timestamp::now(),
                key: Some(key("migrate.failed")),
                error: Some(format!("{} on {}: {e}", name, cfg.host)),
                ..claim
            };
            let body = sealed(serde_json::to_vec(&failed).expect("a claim serializes"), seal);
            let _ = store.overwrite(&key("migrate.failed"), body).await;
            return Err(Stop::Failed(e.to_string()));
        }
    }
    let done = Claim { at: jiff::Timestamp::now(), key: Some(key("migrate.done")), ..claim };
    let body = sealed(serde_json::to_vec(&done).expect("a claim serializes"), seal);
    store.create(&key("migrate.done"), body).await.map_err(err)?;
    Ok(())
}

/// The claim at `key`, when it can be read and the blessing's report keys
/// (if any) sealed it; a claim no agent sealed names no one.
async fn read_claim(run: &AppRun<'_>, b: &Blessing, key: &str) -> Result<Option<Claim>, Stop> {
    let bytes = run.agent.store.get(key, MAX_CLAIM).await.map_err(|e| Stop::Failed(format!("migrate once: {e}")))?;
    let reporters = Reporters::of_blessing(b);
    Ok(bytes.and_then(|bytes| believe(&reporters, key, &bytes).ok().flatten()))
}

//! Locks: every host of a run (or of a command that changes hosts) is locked
//! before anything changes, all or none, and unlocked after whatever happens.
//! A lock whose holder is certainly dead is taken over, and the take-over
//! recorded on the host. A run whose only change on a host is its switch
//! may hold each lock by an open session ([`haul_host::HeldLock`]), taken
//! with the others before any host changes, and switch (and release) it in
//! that session.

use crate::fanout::each;
use crate::{DeployError, Engine, LockHeld, Progress};
use haul_host::{Event, EventKind, HeldLock, HostApp, HostState, LockInfo, LockOutcome};
use std::collections::BTreeMap;

/// The locks a run holds by open sessions, by host name: taken out by the
/// switch that uses one, the rest released when the run ends.
pub(super) type Held = std::sync::Mutex<BTreeMap<String, HeldLock>>;

/// How each host's lock is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// The lock alone.
    Lock,
    /// The lock and what is on the host, read under it.
    Inspect,
    /// As `Inspect`, the session kept open to switch and release in.
    Hold(Hold),
}

/// Which locks are held by their sessions, and what a lost session does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hold {
    /// The switch is the last thing done under the lock (a rollback): a
    /// lost session releases it ([`HostApp::lock_hold`]).
    ToSwitch,
    /// More may follow the switch under the lock (a deploy's switch back,
    /// its prune): a lost session leaves it for the run's unlock
    /// ([`HostApp::lock_keep`]).
    Through,
}

impl Engine {
    pub fn unlock_hint(&self, app: &str, env: &str) -> String {
        format!("haul unlock {app} {env} --reason \"…\"")
    }

    /// Locks `app` on every host, or none of them. A lock whose holder is
    /// certainly dead (see [`haul_host::Holder::dead`]) is taken over, and
    /// the take-over recorded; any other lock is reported as held.
    pub async fn lock_all(&self, apps: &[HostApp], command: String, hint: String) -> Result<String, DeployError> {
        self.lock_each(apps, command, hint, Take::Lock).await.map(|(token, _, _)| token)
    }

    /// [`Engine::lock_all`], and what is on each host read under its lock
    /// (in `apps`' order), taken and read in one round trip per host. With
    /// `hold`, each lock is kept by its open session where it was taken
    /// that way (not where a stale lock was taken over), in the map
    /// returned, for [`HeldLock::switch`] and [`HeldLock::switch_unlock`];
    /// whatever the caller does not use goes to [`Engine::release_held`].
    pub(crate) async fn lock_inspect_all(
        &self,
        apps: &[HostApp],
        command: String,
        hint: String,
        hold: Option<Hold>,
    ) -> Result<(String, Vec<HostState>, Held), DeployError> {
        let take = hold.map_or(Take::Inspect, Take::Hold);
        let (token, states, held) = self.lock_each(apps, command, hint, take).await?;
        Ok((token, states.into_iter().map(|s| s.expect("inspected under the lock")).collect(), held))
    }

    async fn lock_each(
        &self,
        apps: &[HostApp],
        command: String,
        hint: String,
        take: Take,
    ) -> Result<(String, Vec<Option<HostState>>, Held), DeployError> {
        let info = LockInfo::new(self.who.holder.clone(), &self.who.user, command);
        let token = info.token.clone();
        let results = each(apps.to_vec(), self.parallel, |a| {
            let info = info.clone();
            async move {
                let (outcome, state, hold) = match take {
                    Take::Lock => (a.lock(&info).await?, None, None),
                    Take::Inspect => {
                        let (outcome, state) = a.lock_inspect(&info).await?;
                        (outcome, state, None)
                    }
                    Take::Hold(how) => {
                        let taken = match how {
                            Hold::ToSwitch => a.lock_hold(&info).await?,
                            Hold::Through => a.lock_keep(&info).await?,
                        };
                        match taken {
                            (outcome, Some((state, hold))) => (outcome, Some(state), Some(hold)),
                            (outcome, None) => (outcome, None, None),
                        }
                    }
                };
                let theirs = match outcome {
                    LockOutcome::Acquired => return Ok((LockOutcome::Acquired, None, state, hold)),
                    LockOutcome::Held(theirs) => theirs,
                };
                // A lock of a process that is certainly gone protects
                // nothing: take it over (and say so).
                let Some(why) = theirs.holder.dead(&info.holder).filter(|_| !theirs.is_unreadable()) else {
                    return Ok((LockOutcome::Held(theirs), None, None, None));
                };
                let event = Event {
                    reason: Some(format!("taken over: {why} ({})", theirs.command)),
                    ..Event::now(EventKind::Unlock, &info.user)
                };
                let outcome = a.take_over(&theirs, &info, &event).await?;
                let state = match (&outcome, take) {
                    (LockOutcome::Acquired, Take::Inspect | Take::Hold(_)) => Some(a.inspect().await?),
                    _ => None,
                };
                Ok::<_, haul_host::HostError>((outcome, Some(format!("{}: {why}", theirs.describe())), state, None))
            }
        })
        .await;
        let mut held = Vec::new();
        let mut failure = None;
        let mut acquired = Vec::new();
        let mut states = Vec::new();
        let mut holds = BTreeMap::new();
        for (a, r) in apps.iter().zip(results) {
            match r {
                Ok((LockOutcome::Acquired, took_over, state, hold)) => {
                    states.push(state);
                    if let Some(hold) = hold {
                        holds.insert(a.host().to_string(), hold);
                    }
                    if let Some(what) = took_over {
                        self.observer
                            .progress(Progress::Warn(&format!("{}: took over a stale lock: {what}", a.host())));
                    }
                    acquired.push(a.clone());
                }
                Ok((LockOutcome::Held(theirs), _, _, _)) => {
                    let stale = self.staleness(&theirs);
                    held.push(LockHeld { host: a.host().to_string(), info: theirs, stale });
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let holds = Held::new(holds);
        if held.is_empty() && failure.is_none() {
            return Ok((token, states, holds));
        }
        let released = self.release_held(holds).await;
        acquired.retain(|a| !released.contains(a.host()));
        self.unlock_all(&acquired, &token).await;
        match failure {
            Some(e) => Err(e.into()),
            None => Err(DeployError::Locked(held, hint)),
        }
    }

    /// Why a held lock looks abandoned, if it does: its holder is certainly
    /// dead (and it changed hands meanwhile), it is older than
    /// `lock.stale_after`, or nobody can tell whose it is.
    fn staleness(&self, info: &LockInfo) -> Option<String> {
        if info.is_unreadable() {
            return Some("the lock file cannot be read, so nobody can tell whether its holder still runs".into());
        }
        if let Some(why) = info.holder.dead(&self.who.holder) {
            return Some(why);
        }
        let limit = self.config.lock.stale_after;
        match info.age() {
            Some(age) if age > limit.0 => {
                Some(format!("it was taken {} ago, longer than lock.stale_after ({limit})", humanize(age)))
            }
            _ => None,
        }
    }

    /// Releases every lock still held by its session, at once, waiting
    /// for each; returns the hosts released. One that fails (its session
    /// lost, say) is left to [`Engine::unlock_all`], which warns when it
    /// cannot release it either.
    pub(super) async fn release_held(&self, held: Held) -> std::collections::BTreeSet<String> {
        let held: Vec<HeldLock> = held.into_inner().unwrap_or_else(|p| p.into_inner()).into_values().collect();
        // Every session is open already: all are told at once.
        let results = each(held, usize::MAX, |h| async move {
            let host = h.host().to_string();
            (host, h.release().await)
        })
        .await;
        results.into_iter().filter(|(_, r)| r.is_ok()).map(|(host, _)| host).collect()
    }

    pub async fn unlock_all(&self, apps: &[HostApp], token: &str) {
        let results =
            each(apps.to_vec(), self.parallel, |a| async move { (a.host().to_string(), a.unlock(token).await) }).await;
        for (host, r) in results {
            if let Err(e) = r {
                self.observer.progress(Progress::Warn(&format!("{host}: could not release the lock: {e}")));
            }
        }
    }
}

/// `d` the short way a person reads it: `45s`, `12m`, `3h20m`, `2d4h`.
pub(crate) fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

//! Locks: every host of a run (or of a command that changes hosts) is locked
//! before anything changes, all or none, and unlocked after whatever happens.
//! A lock whose holder is certainly dead is taken over, and the take-over
//! recorded on the host.

use crate::fanout::each;
use crate::{DeployError, Engine, LockHeld, Progress};
use haul_host::{Event, EventKind, HostApp, HostState, LockInfo, LockOutcome};

impl Engine {
    pub fn unlock_hint(&self, app: &str, env: &str) -> String {
        format!("haul unlock {app} {env} --reason \"…\"")
    }

    /// Locks `app` on every host, or none of them. A lock whose holder is
    /// certainly dead (see [`haul_host::Holder::dead`]) is taken over, and
    /// the take-over recorded; any other lock is reported as held.
    pub async fn lock_all(&self, apps: &[HostApp], command: String, hint: String) -> Result<String, DeployError> {
        self.lock_each(apps, command, hint, false).await.map(|(token, _)| token)
    }

    /// [`Engine::lock_all`], and what is on each host read under its lock
    /// (in `apps`' order), taken and read in one round trip per host.
    pub(crate) async fn lock_inspect_all(
        &self,
        apps: &[HostApp],
        command: String,
        hint: String,
    ) -> Result<(String, Vec<HostState>), DeployError> {
        let (token, states) = self.lock_each(apps, command, hint, true).await?;
        Ok((token, states.into_iter().map(|s| s.expect("inspected under the lock")).collect()))
    }

    async fn lock_each(
        &self,
        apps: &[HostApp],
        command: String,
        hint: String,
        inspect: bool,
    ) -> Result<(String, Vec<Option<HostState>>), DeployError> {
        let info = LockInfo::new(self.who.holder.clone(), &self.who.user, command);
        let token = info.token.clone();
        let results = each(apps.to_vec(), self.parallel, |a| {
            let info = info.clone();
            async move {
                let (outcome, state) =
                    if inspect { a.lock_inspect(&info).await? } else { (a.lock(&info).await?, None) };
                let theirs = match outcome {
                    LockOutcome::Acquired => return Ok((LockOutcome::Acquired, None, state)),
                    LockOutcome::Held(theirs) => theirs,
                };
                // A lock of a process that is certainly gone protects
                // nothing: take it over (and say so).
                let Some(why) = theirs.holder.dead(&info.holder).filter(|_| !theirs.is_unreadable()) else {
                    return Ok((LockOutcome::Held(theirs), None, None));
                };
                let event = Event {
                    reason: Some(format!("taken over: {why} ({})", theirs.command)),
                    ..Event::now(EventKind::Unlock, &info.user)
                };
                let outcome = a.take_over(&theirs, &info, &event).await?;
                let state = match (&outcome, inspect) {
                    (LockOutcome::Acquired, true) => Some(a.inspect().await?),
                    _ => None,
                };
                Ok::<_, haul_host::HostError>((outcome, Some(format!("{}: {why}", theirs.describe())), state))
            }
        })
        .await;
        let mut held = Vec::new();
        let mut failure = None;
        let mut acquired = Vec::new();
        let mut states = Vec::new();
        for (a, r) in apps.iter().zip(results) {
            match r {
                Ok((LockOutcome::Acquired, took_over, state)) => {
                    states.push(state);
                    if let Some(what) = took_over {
                        self.observer
                            .progress(Progress::Warn(&format!("{}: took over a stale lock: {what}", a.host())));
                    }
                    acquired.push(a.clone());
                }
                Ok((LockOutcome::Held(theirs), _, _)) => {
                    let stale = self.staleness(&theirs);
                    held.push(LockHeld { host: a.host().to_string(), info: theirs, stale });
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if held.is_empty() && failure.is_none() {
            return Ok((token, states));
        }
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

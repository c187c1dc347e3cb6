//! The per-app, per-host lock: one deploy (or agent, or person) at a time.
//!
//! The lock is the file `.haul/lock`, one JSON line saying who holds it
//! (a [`Holder`]: machine, boot, pid namespace, pid, start time), since when
//! and for what. Every change to it is one atomic step, never a check and
//! then an act on what the check saw:
//!
//! - **Take**: the holder's line is written whole to a file of its own, then
//!   hard-linked to `lock`. `link(2)` fails if `lock` exists, so exactly one
//!   of many takers wins, and `lock` never exists half-written. A taker that
//!   lost reads the holder in the same script; if the lock vanished between
//!   the failed link and the read (its holder released it), it tries again:
//!   a missing file is never an answer.
//! - **Release, take over, clear** (the only ways a lock goes away) first
//!   take the *guard* `.haul/lock.guard`, also by link, and drop it when
//!   the script ends. Under the guard nothing else can remove or replace
//!   `lock`, and a taker can only create it when it is absent, so what the
//!   guarded script read is still what is there when it acts: a release
//!   removes `lock` only while it holds the releaser's token; a take-over
//!   renames its own fresh file over `lock` (one `rename(2)`, no moment
//!   without a lock) only while `lock` still holds the dead holder's token,
//!   else it takes a free lock by link or reports the new holder.
//! - A guard left by a script that was killed is recovered once the process
//!   that took it is certainly gone (same boot, same pid namespace, pid gone
//!   or restarted, as read from `/proc` on the host): it is renamed away,
//!   checked to be the dead one, and put back by link if it is not. Where
//!   that cannot be known the script gives up with a message naming the
//!   guard.
//!
//! A lock file that is empty or cut short (written by an older haul, or by
//! a full disk) is held by someone unknown: reported as such, shown by
//! `haul status`, cleared by `haul unlock`.

use crate::{Holder, HostApp, HostError, HostState, scripts};
use haul_transport::Input;
use serde::{Deserialize, Serialize};

/// What a lock file records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique per holder; only the holder's token releases the lock. Empty
    /// for a lock file that could not be read.
    pub token: String,
    pub user: String,
    /// The process holding the lock.
    #[serde(flatten)]
    pub holder: Holder,
    /// RFC 3339 time the lock was taken.
    pub since: String,
    /// What the holder is doing, e.g. `deploy web staging`.
    pub command: String,
}

impl LockInfo {
    /// A lock for `holder` (run by `user`) doing `command`, with a token no
    /// other holder has: push deploys and agents take locks the same way.
    pub fn new(holder: Holder, user: &str, command: String) -> LockInfo {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        LockInfo {
            token: format!("{}-{}-{nanos}", holder.machine, holder.pid),
            user: user.to_string(),
            holder,
            since: jiff::Timestamp::now().to_string(),
            command,
        }
    }

    /// A lock file whose content cannot be read as a lock.
    pub fn unreadable(text: &str) -> LockInfo {
        let text = text.trim();
        LockInfo {
            token: String::new(),
            user: "someone unknown".into(),
            holder: Holder { machine: "unknown".into(), pid: 0, boot: None, pidns: None, start: None },
            since: String::new(),
            command: if text.is_empty() {
                "an empty lock file".into()
            } else {
                format!("an unreadable lock file ({})", text.chars().take(120).collect::<String>())
            },
        }
    }

    /// Whether this is a lock file that could not be read.
    pub fn is_unreadable(&self) -> bool {
        self.token.is_empty()
    }

    /// How long ago the lock was taken.
    pub fn age(&self) -> Option<std::time::Duration> {
        let since: jiff::Timestamp = self.since.parse().ok()?;
        let secs = jiff::Timestamp::now().as_second() - since.as_second();
        Some(std::time::Duration::from_secs(secs.max(0) as u64))
    }

    pub fn describe(&self) -> String {
        if self.is_unreadable() {
            return format!("{}: its holder is unknown", self.command);
        }
        format!("{} by {} on {} since {}", self.command, self.user, self.holder.describe(), self.since)
    }
}

/// The result of trying to take a lock.
#[derive(Debug, Clone)]
pub enum LockOutcome {
    Acquired,
    Held(LockInfo),
}

impl HostApp {
    /// Takes the lock unless someone holds it.
    pub async fn lock(&self, info: &LockInfo) -> Result<LockOutcome, HostError> {
        let line = serde_json::to_string(info).expect("lock serializes");
        let out = self.run_ok("take lock", scripts::LOCK, &[self.dir(), &line], Input::None).await?;
        self.outcome(&out.stdout_str())
    }

    /// Takes the lock unless someone holds it and, when it was taken, reads
    /// what [`HostApp::inspect`] reads, under it: one round trip where
    /// there were two.
    pub async fn lock_inspect(&self, info: &LockInfo) -> Result<(LockOutcome, Option<HostState>), HostError> {
        let line = serde_json::to_string(info).expect("lock serializes");
        let out = self.run_ok("take lock", scripts::LOCK_INSPECT, &[self.dir(), &line], Input::None).await?;
        let text = out.stdout_str();
        match text.strip_prefix("acquired\n") {
            Some(state) => match crate::state::parse_state(self.host(), state) {
                Ok(state) => Ok((LockOutcome::Acquired, Some(state))),
                Err(e) => {
                    // Nothing can be done under a lock whose host cannot be
                    // read: it is released before the error is told.
                    self.unlock(&info.token).await?;
                    Err(e)
                }
            },
            None => Ok((self.outcome(&text)?, None)),
        }
    }

    pub(crate) fn outcome(&self, text: &str) -> Result<LockOutcome, HostError> {
        let mut lines = text.lines();
        match lines.next() {
            Some("acquired") => Ok(LockOutcome::Acquired),
            Some("held") => Ok(LockOutcome::Held(parse_lock(&lines.collect::<Vec<_>>().join("\n")))),
            _ => Err(HostError::Invalid {
                host: self.host().into(),
                message: format!("unexpected answer while taking the lock: {text}"),
            }),
        }
    }

    /// Releases the lock if `token` still holds it.
    pub async fn unlock(&self, token: &str) -> Result<(), HostError> {
        self.run_ok("release lock", scripts::UNLOCK, &[self.dir(), token], Input::None).await?;
        Ok(())
    }

    /// Replaces a lock known to be abandoned (`dead`) with `info`, recording
    /// `event`. Only a lock still holding `dead`'s token is replaced; a lock
    /// someone else took in the meantime is reported as held, and a lock
    /// that was cleared meanwhile is taken as usual.
    pub async fn take_over(
        &self,
        dead: &LockInfo,
        info: &LockInfo,
        event: &crate::Event,
    ) -> Result<LockOutcome, HostError> {
        let line = serde_json::to_string(info).expect("lock serializes");
        let event = event.to_line();
        let out = self
            .run_ok(
                "take over a stale lock",
                scripts::TAKE_OVER,
                &[self.dir(), &line, &dead.token, &event],
                Input::None,
            )
            .await?;
        self.outcome(&out.stdout_str())
    }

    /// Clears whatever lock is held (readable or not), returning what it was.
    pub async fn force_unlock(&self, event: &crate::Event) -> Result<Option<LockInfo>, HostError> {
        let out =
            self.run_ok("clear lock", scripts::FORCE_UNLOCK, &[self.dir(), &event.to_line()], Input::None).await?;
        let text = out.stdout_str();
        Ok(text.strip_prefix("@cleared\n").map(parse_lock))
    }
}

/// Reads a lock file's text; anything that is not a lock is a lock held by
/// someone unknown, never an error and never "not locked".
pub(crate) fn parse_lock(text: &str) -> LockInfo {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| LockInfo::unreadable(text))
}

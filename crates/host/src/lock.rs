//! The per-app, per-host lock: one deploy (or agent, or person) at a time.
//!
//! Taken with `set -C` (O_EXCL) so two writers cannot both succeed; it holds
//! who, where, which process and since when, so a refusal can say all of it.

use crate::{HostApp, HostError, quote};
use haul_transport::Input;
use serde::{Deserialize, Serialize};

/// What a lock file records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique per holder; only the holder's token releases the lock.
    pub token: String,
    pub user: String,
    /// The machine the holder runs on.
    pub machine: String,
    pub pid: u32,
    /// RFC 3339 time the lock was taken.
    pub since: String,
    /// What the holder is doing, e.g. `deploy web staging`.
    pub command: String,
}

impl LockInfo {
    /// How long ago the lock was taken.
    pub fn age(&self) -> Option<std::time::Duration> {
        let since: jiff::Timestamp = self.since.parse().ok()?;
        let secs = jiff::Timestamp::now().as_second() - since.as_second();
        Some(std::time::Duration::from_secs(secs.max(0) as u64))
    }

    pub fn describe(&self) -> String {
        format!("{} by {} on {} (pid {}) since {}", self.command, self.user, self.machine, self.pid, self.since)
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
        let script = format!(
            r#"mkdir -p {dir}/.haul && cd {dir}/.haul || exit 3
if ( set -C; printf '%s\n' {line} > lock ) 2>/dev/null; then echo acquired; else echo held; cat lock; fi
"#,
            dir = quote(self.dir()),
            line = quote(&line)
        );
        let out = self.run_ok("take lock", &script, Input::None).await?;
        let text = out.stdout_str();
        let mut lines = text.lines();
        match lines.next() {
            Some("acquired") => Ok(LockOutcome::Acquired),
            Some("held") => {
                let rest: String = lines.collect::<Vec<_>>().join("\n");
                Ok(LockOutcome::Held(parse_lock(self.host(), &rest)?))
            }
            _ => Err(HostError::Invalid {
                host: self.host().into(),
                message: format!("unexpected answer while taking the lock: {text}"),
            }),
        }
    }

    /// Releases the lock if `token` still holds it.
    pub async fn unlock(&self, token: &str) -> Result<(), HostError> {
        let script = format!(
            "cd {dir}/.haul 2>/dev/null || exit 0\nif {held}; then rm -f lock; fi\n",
            dir = quote(self.dir()),
            held = held_by(token)
        );
        self.run_ok("release lock", &script, Input::None).await?;
        Ok(())
    }

    /// Replaces a lock known to be abandoned (`dead`) with `info`, recording
    /// `event`. Only a lock still reading exactly as `dead` is replaced, so a
    /// lock someone else took in the meantime is left alone.
    pub async fn take_over(
        &self,
        dead: &LockInfo,
        info: &LockInfo,
        event: &crate::Event,
    ) -> Result<LockOutcome, HostError> {
        let script = format!(
            "cd {dir}/.haul || exit 3\nif {held}; then rm -f lock && printf '%s\\n' {ev} >> history; fi\n",
            dir = quote(self.dir()),
            held = held_by(&dead.token),
            ev = quote(&event.to_line())
        );
        self.run_ok("take over a stale lock", &script, Input::None).await?;
        self.lock(info).await
    }

    /// Clears whatever lock is held, returning what it was.
    pub async fn force_unlock(&self, event: &crate::Event) -> Result<Option<LockInfo>, HostError> {
        let script = format!(
            "cd {dir}/.haul 2>/dev/null || exit 0\nif [ -f lock ]; then cat lock; rm -f lock; printf '%s\\n' {ev} >> history; fi\n",
            dir = quote(self.dir()),
            ev = quote(&event.to_line())
        );
        let out = self.run_ok("clear lock", &script, Input::None).await?;
        let text = out.stdout_str();
        if text.trim().is_empty() { Ok(None) } else { parse_lock(self.host(), &text).map(Some) }
    }
}

/// A shell test: is `lock` (in the current directory) held by `token`?
fn held_by(token: &str) -> String {
    format!("grep -qF {} lock 2>/dev/null", quote(&format!("\"token\":\"{token}\"")))
}

pub(crate) fn parse_lock(host: &str, text: &str) -> Result<LockInfo, HostError> {
    serde_json::from_str(text.trim()).map_err(|e| HostError::Invalid {
        host: host.into(),
        message: format!("the lock file is unreadable ({e}): {}", text.trim()),
    })
}

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

use crate::{Holder, HostApp, HostError, quote};
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

/// Shell functions every guarded script starts with: `me` prints this
/// script's identity, `guard` takes `lock.guard` (in the current directory)
/// until the script exits, recovering one whose taker is certainly dead.
pub(crate) const GUARD: &str = r#"me() {
  b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null); n=$(readlink /proc/$$/ns/pid 2>/dev/null)
  s=$(sed 's/.*) //' /proc/$$/stat 2>/dev/null | cut -d' ' -f20)
  printf '%s %s %s %s\n' "${b:-?}" "${n:-?}" $$ "${s:-?}"
}
dead() {
  set -- $1
  [ "$1" != '?' ] && [ "$2" != '?' ] && [ "$4" != '?' ] || return 1
  [ "$1" = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] || return 1
  [ "$2" = "$(readlink /proc/$$/ns/pid 2>/dev/null)" ] || return 1
  [ -d /proc/$3 ] || return 0
  [ "$4" != "$(sed 's/.*) //' /proc/$3/stat 2>/dev/null | cut -d' ' -f20)" ]
}
guard() {
  gd=$(pwd)
  me > lock.guard.$$ || exit 5
  trap 'rm -f "$gd/lock.guard.$$"' EXIT
  g=0
  until ln lock.guard.$$ lock.guard 2>/dev/null; do
    if o=$(cat lock.guard 2>/dev/null) && dead "$o"; then
      if mv lock.guard lock.guard.dead.$$ 2>/dev/null; then
        if [ "$(cat lock.guard.dead.$$)" = "$o" ]; then rm -f lock.guard.dead.$$; else ln lock.guard.dead.$$ lock.guard 2>/dev/null; rm -f lock.guard.dead.$$; fi
      fi
      continue
    fi
    g=$((g+1))
    if [ $g -gt 600 ]; then echo "the lock guard $(pwd)/lock.guard has been held for a minute; remove it if no haul runs on this host" >&2; exit 6; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  trap 'rm -f "$gd/lock.guard" "$gd/lock.guard.$$"' EXIT
}
"#;

impl HostApp {
    /// Takes the lock unless someone holds it.
    pub async fn lock(&self, info: &LockInfo) -> Result<LockOutcome, HostError> {
        let line = serde_json::to_string(info).expect("lock serializes");
        let script = format!(
            r#"mkdir -p {dir}/.haul && cd {dir}/.haul || exit 3
t=lock.new.$$
printf '%s\n' {line} > "$t" || {{ rm -f "$t"; exit 5; }}
n=0
while :; do
  if err=$(ln "$t" lock 2>&1); then rm -f "$t"; echo acquired; exit 0; fi
  if held=$(cat lock 2>/dev/null); then rm -f "$t"; echo held; printf '%s\n' "$held"; exit 0; fi
  n=$((n+1))
  [ $n -lt 200 ] || {{ rm -f "$t"; echo "cannot take the lock: $err" >&2; exit 6; }}
done
"#,
            dir = quote(self.dir()),
            line = quote(&line)
        );
        let out = self.run_ok("take lock", &script, Input::None).await?;
        self.outcome(&out.stdout_str())
    }

    fn outcome(&self, text: &str) -> Result<LockOutcome, HostError> {
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
        let script = format!(
            "cd {dir}/.haul 2>/dev/null || exit 0\n{GUARD}guard\nif {held}; then rm -f lock; fi\n",
            dir = quote(self.dir()),
            held = held_by(token)
        );
        self.run_ok("release lock", &script, Input::None).await?;
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
        let script = format!(
            r#"cd {dir}/.haul || exit 3
{GUARD}guard
t=lock.new.$$
printf '%s\n' {line} > "$t" || {{ rm -f "$t"; exit 5; }}
if {held}; then
  mv -f "$t" lock || {{ rm -f "$t"; exit 5; }}
  printf '%s\n' {ev} >> history
  echo acquired
elif ln "$t" lock 2>/dev/null; then
  rm -f "$t"; echo acquired
else
  rm -f "$t"; echo held; cat lock
fi
"#,
            dir = quote(self.dir()),
            held = held_by(&dead.token),
            line = quote(&line),
            ev = quote(&event.to_line())
        );
        let out = self.run_ok("take over a stale lock", &script, Input::None).await?;
        self.outcome(&out.stdout_str())
    }

    /// Clears whatever lock is held (readable or not), returning what it was.
    pub async fn force_unlock(&self, event: &crate::Event) -> Result<Option<LockInfo>, HostError> {
        let script = format!(
            "cd {dir}/.haul 2>/dev/null || exit 0\n{GUARD}guard\nif [ -f lock ]; then echo @cleared; cat lock; rm -f lock; printf '%s\\n' {ev} >> history; fi\n",
            dir = quote(self.dir()),
            ev = quote(&event.to_line())
        );
        let out = self.run_ok("clear lock", &script, Input::None).await?;
        let text = out.stdout_str();
        Ok(text.strip_prefix("@cleared\n").map(parse_lock))
    }
}

/// A shell test: is `lock` (in the current directory) held by `token`?
pub(crate) fn held_by(token: &str) -> String {
    if token.is_empty() {
        return "false".into();
    }
    format!("grep -qF {} lock 2>/dev/null", quote(&format!("\"token\":\"{token}\"")))
}

/// Reads a lock file's text; anything that is not a lock is a lock held by
/// someone unknown, never an error and never "not locked".
pub(crate) fn parse_lock(text: &str) -> LockInfo {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| LockInfo::unreadable(text))
}

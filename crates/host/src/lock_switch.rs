//! A switch that is all a run does on a host, made in one round trip: take
//! the lock, read what is live, switch, record the switch, release the lock
//! (`lock-switch.sh`). A rollback to a named release with nothing else to
//! run then costs what the raw `ln -s` and `mv -T` over one ssh cost; the
//! engine decides what to do about the hosts that could not switch.

use crate::{Event, HostApp, HostError, LockInfo, SWITCHED_STILL_LOCKED, lock::parse_lock, scripts};
use haul_release::ReleaseId;
use haul_transport::Input;

/// What [`HostApp::lock_switch`] did. `unlocked` says whether the script
/// released the lock itself; when it did not, the lock is the run's and
/// [`HostApp::unlock`] releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSwitch {
    /// Someone else holds the lock: nothing was done.
    Held(LockInfo),
    /// The release was live already.
    Unchanged { unlocked: bool },
    /// Nothing moved, for this reason.
    Refused { why: String, unlocked: bool },
    /// Switched from `from`, and the switch recorded.
    Switched { from: ReleaseId, unlocked: bool },
}

/// Where the history line takes the release that was live, which only the
/// host knows: the script puts it between the line's two halves.
const FROM_MARK: &str = "\"from\":\"@from@\",";

impl HostApp {
    /// Takes the lock for `info` and, under it, switches `current` to the
    /// complete release `to` if what is live is `expect` (anything, when
    /// `None`), records `event` (its `to` set to `to`, its `from` filled in on the
    /// host) and
    /// releases the lock, all in one round trip. Fails as
    /// [`HostApp::switch`] does once the switch was begun
    /// ([`HostError::switch_may_have_moved`] tells whether it may have
    /// moved `current`); the lock is then still held.
    pub async fn lock_switch(
        &self,
        info: &LockInfo,
        to: &ReleaseId,
        expect: Option<&ReleaseId>,
        event: &Event,
    ) -> Result<LockSwitch, HostError> {
        let lock = serde_json::to_string(info).expect("lock serializes");
        let line = Event { from: Some("@from@".into()), to: Some(to.to_string()), ..event.clone() }.to_line();
        let (head, tail) = line.split_once(FROM_MARK).expect("an event's `from` is followed by its other fields");
        let expect = expect.map_or("", |e| e.as_str());
        let args = [self.dir(), &lock, to.as_str(), expect, head, tail, &info.token];
        let what = format!("switch to {to}");
        let out = self.transport.exec_args(scripts::LOCK_SWITCH, &args, Input::None, None).await?;
        let text = out.stdout_str();
        let mut lines = text.lines();
        let bad = |message: String| HostError::Invalid { host: self.host().into(), message };
        match lines.next() {
            Some("held") if out.success() => {
                return Ok(LockSwitch::Held(parse_lock(&lines.collect::<Vec<_>>().join("\n"))));
            }
            Some("acquired") => {}
            _ if !out.success() => return Err(self.script_error(&what, &out)),
            _ => return Err(bad(format!("unexpected answer while taking the lock: {text}"))),
        }
        let unlocked = match out.code {
            Some(0) => true,
            Some(SWITCHED_STILL_LOCKED) => false,
            _ => return Err(self.script_error(&what, &out)),
        };
        let said = lines.next().unwrap_or_default();
        if said == "@unchanged" {
            return Ok(LockSwitch::Unchanged { unlocked });
        }
        if let Some(why) = said.strip_prefix("@refused ") {
            return Ok(LockSwitch::Refused { why: why.to_string(), unlocked });
        }
        match said.strip_prefix("@from ").map(ReleaseId::parse) {
            Some(Ok(from)) => Ok(LockSwitch::Switched { from, unlocked }),
            _ => Err(bad(format!("unexpected answer from the switch: {text}"))),
        }
    }
}

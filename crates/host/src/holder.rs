//! Who holds something (a host lock, a running deployment), identified well
//! enough that "that process is dead" can be said with certainty.
//!
//! A host name and a pid are not enough: containers with host networking
//! share the host name, and a pid means another process in another pid
//! namespace or after a reboot or once it is reused. A [`Holder`] therefore
//! also records the boot (`/proc/sys/kernel/random/boot_id`), the pid
//! namespace (`/proc/self/ns/pid`) and the process start time (field 22 of
//! `/proc/<pid>/stat`). A holder is certainly dead only when the judge runs
//! in the same boot and the same pid namespace and that pid is gone or now
//! belongs to a process that started at another time. Anything less certain
//! (another machine, another namespace, a field unknown on either side)
//! counts as alive: such a holder can only go stale by age, or be cleared by
//! a person.

use serde::{Deserialize, Serialize};

/// The process behind a lock or a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The machine's host name (for people; not part of the judgement).
    pub machine: String,
    pub pid: u32,
    /// The kernel's boot id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// The pid namespace, e.g. `pid:[4026531836]`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidns: Option<String>,
    /// The process start time in clock ticks since boot, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
}

impl Holder {
    /// This process.
    pub fn current() -> Holder {
        let pid = std::process::id();
        Holder { machine: host_name(), pid, boot: boot_id(), pidns: pid_namespace(), start: start_time(pid) }
    }

    /// Why `self` is certainly no longer running, judged from `judge` (the
    /// process asking, which must be this process's own identity), or
    /// `None` when it may still run.
    pub fn dead(&self, judge: &Holder) -> Option<String> {
        let (Some(boot), Some(ns), Some(start)) = (&self.boot, &self.pidns, self.start) else { return None };
        if judge.boot.as_ref() != Some(boot) || judge.pidns.as_ref() != Some(ns) {
            return None;
        }
        if self.pid == judge.pid && Some(start) == judge.start {
            return None;
        }
        match start_time(self.pid) {
            None if !std::path::Path::new(&format!("/proc/{}", self.pid)).exists() => {
                Some(format!("process {} on {} is no longer running", self.pid, self.machine))
            }
            None => None,
            Some(now) if now != start => Some(format!(
                "process {} on {} is no longer running (its pid now belongs to another)",
                self.pid, self.machine
            )),
            Some(_) => None,
        }
    }

    /// Says who this is, for messages.
    pub fn describe(&self) -> String {
        format!("{} (pid {})", self.machine, self.pid)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            let out = std::process::Command::new("hostname").output().ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn boot_id() -> Option<String> {
    let s = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

fn pid_namespace() -> Option<String> {
    Some(std::fs::read_link("/proc/self/ns/pid").ok()?.to_string_lossy().into_owned())
}

/// Field 22 of `/proc/<pid>/stat`: counted after the command name, which is
/// in parentheses and may itself hold spaces and parentheses.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::Holder;

    #[test]
    fn this_process_is_alive_and_complete() {
        let me = Holder::current();
        assert!(me.boot.is_some() && me.pidns.is_some() && me.start.is_some(), "{me:?}");
        assert_eq!(me.dead(&me), None);
    }

    #[test]
    fn a_finished_child_is_dead_and_a_reused_pid_is_too() {
        let me = Holder::current();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = super::start_time(pid);
        child.wait().unwrap();
        let gone = Holder { pid, start: start.or(Some(1)), ..me.clone() };
        assert!(gone.dead(&me).unwrap().contains("no longer running"));
        // A live pid whose start time differs is another process.
        let reused = Holder { start: me.start.map(|s| s + 1), ..me.clone() };
        let judge = Holder { pid: 1, ..me.clone() };
        assert!(reused.dead(&judge).unwrap().contains("another"));
    }

    #[test]
    fn anything_uncertain_counts_as_alive() {
        let me = Holder::current();
        let gone = Holder { pid: u32::MAX - 1, ..me.clone() };
        assert!(gone.dead(&me).is_some());
        assert_eq!(Holder { boot: Some("another boot".into()), ..gone.clone() }.dead(&me), None);
        assert_eq!(Holder { pidns: Some("pid:[1]".into()), ..gone.clone() }.dead(&me), None);
        assert_eq!(Holder { start: None, ..gone.clone() }.dead(&me), None);
        assert_eq!(gone.dead(&Holder { boot: None, ..me }), None);
    }
}

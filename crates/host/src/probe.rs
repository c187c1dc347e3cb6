//! What `haul check --hosts` learns about a host before any deploy: its
//! tools, whether the deploy root is writable, the free space under it, and
//! who holds each app's lock there. One round trip (`scripts/tools.sh`,
//! then `scripts/check.sh`); the layout (where an app's lock lives) is
//! known here and nowhere else.

use crate::{HostApp, scripts};
use haul_transport::{Input, TransportError};
use std::collections::BTreeMap;

/// A host as `haul check --hosts` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostProbe {
    /// Every tool of [`crate::TOOLS`] by name, and whether the host has it.
    pub tools: BTreeMap<String, bool>,
    /// The deploy root exists (or could be made) and is writable.
    pub writable: bool,
    /// Free space under the deploy root, in KiB.
    pub free_kib: Option<u64>,
    /// The apps whose lock is held on this host, each with the lock file's
    /// text (a holder's JSON line, or whatever a torn file holds).
    pub locks: Vec<(String, String)>,
}

impl HostApp {
    /// Probes this host, whose directory is taken as the deploy root;
    /// `apps` are the apps (name, app directory) whose locks to read. The
    /// script's exit status is not judged: what it printed is the answer.
    pub async fn probe(&self, apps: &[(String, String)]) -> Result<HostProbe, TransportError> {
        let mut args = vec![self.dir()];
        for (name, dir) in apps {
            args.extend([name.as_str(), dir.as_str()]);
        }
        let out = self.transport().exec_args(scripts::CHECK, &args, Input::None, None).await?;
        Ok(parse_probe(&out.stdout_str()))
    }
}

fn parse_probe(text: &str) -> HostProbe {
    let mut p = HostProbe::default();
    for line in text.lines() {
        let mut w = line.splitn(3, ' ');
        match (w.next(), w.next(), w.next()) {
            (Some("tool"), _, _) => {
                if let Some((name, yes)) = crate::parse_probe_line(line) {
                    p.tools.insert(name.to_string(), yes);
                }
            }
            (Some("writable"), Some(v), _) => p.writable = v == "yes",
            (Some("free"), Some(v), _) => p.free_kib = v.parse().ok(),
            (Some("lock"), Some(app), Some(info)) => p.locks.push((app.to_string(), info.to_string())),
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_transport::{Local, Transport};

    fn probe_under(shell: &[&str]) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root with 'quotes' and $(x)");
        let app = root.join("web");
        std::fs::create_dir_all(app.join(".haul")).unwrap();
        std::fs::write(app.join(".haul/lock"), "{\"token\":\"t\"}\n").unwrap();
        let host = HostApp::new(
            Transport::Local(Local::new("h").with_shell(shell.iter().copied())),
            root.display().to_string(),
        );
        let apps = vec![
            ("web".to_string(), app.display().to_string()),
            ("api".to_string(), root.join("api").display().to_string()),
        ];
        let p = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(host.probe(&apps));
        let p = p.unwrap();
        assert_eq!(p.tools.len(), crate::TOOLS.len(), "{p:?}");
        assert!(p.writable, "{p:?}");
        assert!(p.free_kib.is_some_and(|k| k > 0), "{p:?}");
        assert_eq!(p.locks, vec![("web".to_string(), "{\"token\":\"t\"}".to_string())]);
    }

    #[test]
    fn probe_reads_tools_room_and_locks_under_dash() {
        probe_under(&["dash"]);
    }

    #[test]
    fn probe_reads_tools_room_and_locks_under_bash() {
        probe_under(&["bash"]);
    }

    #[test]
    fn probe_reads_tools_room_and_locks_under_busybox_sh() {
        probe_under(&["busybox", "sh"]);
    }

    #[test]
    fn an_unwritable_root_is_said_to_be() {
        let p = parse_probe("writable no\nfree \n");
        assert!(!p.writable);
        assert_eq!(p.free_kib, None);
    }
}

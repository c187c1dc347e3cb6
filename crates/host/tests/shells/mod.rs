//! The shells hosts run (dash, BusyBox `sh`, bash), and a macro that makes
//! one test per case per shell, so a failure names both: `case::dash`.

use haul_transport::{Local, Transport};

/// A local host whose scripts run under `shell` (a program and the
/// arguments it needs before `-c`).
pub fn local(shell: &[&str]) -> Transport {
    Transport::Local(Local::new("h").with_shell(shell.iter().copied()))
}

/// For each `case(shell: &[&str])` function named, a module of that name
/// with one test per shell.
#[macro_export]
macro_rules! under_every_shell {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[test]
                fn dash() {
                    super::$case(&["dash"]);
                }

                #[test]
                fn busybox_sh() {
                    super::$case(&["busybox", "sh"]);
                }

                #[test]
                fn bash() {
                    super::$case(&["bash"]);
                }
            }
        )+
    };
}

/// A host tool played by a script, for a test that plays another party (or
/// watches) through a tool a host script runs: `tool` first on PATH, the
/// script `body` run by `/bin/sh` with `$real` naming the real tool and
/// `$here` the shim's directory. Lives as long as this value. (Not every
/// test binary that includes this module plays a tool.)
#[allow(dead_code)]
pub struct Shim {
    dir: tempfile::TempDir,
    path: String,
}

#[allow(dead_code)]
impl Shim {
    pub fn new(tool: &str, body: &str) -> Shim {
        let dir = tempfile::tempdir().unwrap();
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| format!("{d}/{tool}"))
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| panic!("no {tool} on this machine"));
        let script = dir.path().join(tool);
        let text = format!("#!/bin/sh\nreal='{real}' here='{}'\n{body}\n", dir.path().display());
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("PATH={}:{}", dir.path().display(), std::env::var("PATH").unwrap());
        Shim { dir, path }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `shell` run with the shim first on PATH.
    pub fn shell<'a>(&'a self, shell: &[&'a str]) -> Vec<&'a str> {
        ["env", self.path.as_str()].into_iter().chain(shell.iter().copied()).collect()
    }
}

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

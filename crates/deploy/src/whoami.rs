//! Who is deploying, from where: recorded in locks and history.

use rustix::process::{Pid, test_kill_process};

/// The person and process behind a command.
#[derive(Debug, Clone)]
pub struct Whoami {
    pub user: String,
    pub machine: String,
    pub pid: u32,
}

impl Whoami {
    /// `HAUL_ACTOR` names the actor explicitly (CI systems set it);
    /// otherwise the login name.
    pub fn current() -> Whoami {
        let user = ["HAUL_ACTOR", "USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .or_else(login_name)
            .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()));
        let machine = rustix::system::uname().nodename().to_string_lossy().into_owned();
        Whoami { user, machine, pid: std::process::id() }
    }

    /// Whether a process of this machine is still running.
    pub fn process_alive(pid: u32) -> bool {
        match Pid::from_raw(pid as i32) {
            Some(p) => match test_kill_process(p) {
                Ok(()) => true,
                Err(e) => e != rustix::io::Errno::SRCH,
            },
            None => false,
        }
    }
}

/// The login name of this process's user, from the password database.
fn login_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

//! Who is deploying, from where: recorded in locks, history and the
//! ledger's running deployments. The process identity is a [`Holder`], so
//! that a lock or a run left by a dead process is known to be dead.

pub use haul_host::Holder;

/// The person and process behind a command.
#[derive(Debug, Clone)]
pub struct Whoami {
    pub user: String,
    /// This process: machine, boot, pid namespace, pid, start time.
    pub holder: Holder,
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
        let mut holder = Holder::current();
        holder.machine = rustix::system::uname().nodename().to_string_lossy().into_owned();
        Whoami { user, holder }
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

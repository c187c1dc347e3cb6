//! A fleet of real OpenSSH servers on loopback addresses, one per host.
//!
//! Tests of the SSH transport need servers that behave like servers: each
//! with its own `/srv` at the same path, its own host key, and the ability
//! to go down and come back. Each host here is a holder process in its own
//! mount namespace with a private tmpfs over `/srv` (the deploy root) and
//! over `/root` (so no shell profile slows commands down), and in its own
//! pid namespace, with an `sshd` entered into both listening on
//! `127.0.0.N`. Stopping a host kills every process in its pid namespace but
//! the holder's: connections drop as they would when a server dies, and its
//! disk is still there when it comes back. Ending the holder ends the whole
//! host, so the fleet is stopped by the holder pids (and start times) it
//! recorded, and never by searching for processes that look like its own.
//! `/srv` may be made small, to fill up. Needs root (mount namespaces) and `sshd`, `ssh-keygen`,
//! `unshare`, `nsenter`.
//!
//! An optional bastion sits in front: then the other hosts accept only
//! connections forwarded by the bastion, because haul's own connections are
//! bound to another loopback address.

mod holder;
pub mod hostile;

pub use holder::stop_recorded;
use holder::{detached, kill_namespace, spawn_holder, start_time};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where haul's client connections come from when a bastion guards the fleet.
pub const CLIENT_ADDRESS: &str = "127.0.0.254";
const BASTION_ADDRESS: &str = "127.0.0.253";

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub hosts: usize,
    /// The sshd port on every address; 0 picks a free one.
    pub port: u16,
    /// Put a bastion in front: hosts refuse direct connections.
    pub bastion: bool,
    /// Leave the fleet running when the `Fleet` is dropped.
    pub persist: bool,
    /// Sizes of some hosts' `/srv` tmpfs, by host index (`(1, "2m")`); the
    /// others get tmpfs's default (half the memory). A small one is a disk
    /// that fills up.
    pub srv_sizes: Vec<(usize, String)>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions { hosts: 2, port: 0, bastion: false, persist: false, srv_sizes: Vec::new() }
    }
}

/// One host of the fleet.
#[derive(Debug, Clone)]
pub struct FleetHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// The process holding the host's namespaces.
    pub holder: u32,
    /// The holder's start time (clock ticks after boot, from
    /// `/proc/<pid>/stat`): with the pid, what tells it from a later process
    /// that got the same pid.
    pub holder_start: u64,
    dir: PathBuf,
}

impl FleetHost {
    /// A path as the host sees it (through the holder's root).
    pub fn path(&self, p: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.holder, p))
    }

    /// Whether the recorded holder still runs (same pid, same start time).
    pub fn holder_alive(&self) -> bool {
        start_time(self.holder) == Some(self.holder_start)
    }
}

pub struct Fleet {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub hosts: Vec<FleetHost>,
    pub bastion: Option<FleetHost>,
    opts: FleetOptions,
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr).trim())))
    }
}

fn keygen(path: &Path) -> io::Result<String> {
    if !path.exists() {
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "haul-fleet", "-f"]).arg(path))?;
    }
    Ok(std::fs::read_to_string(path.with_extension("pub"))?.trim().to_string())
}

fn address(i: usize) -> String {
    // 127.0.0.2 … 127.0.0.250, then 127.0.1.x and on.
    let n = i + 2;
    format!("127.0.{}.{}", n / 250, n % 250 + if n >= 250 { 1 } else { 0 })
}

impl Fleet {
    /// Starts a fleet in a temporary directory (removed on drop).
    pub fn start(opts: FleetOptions) -> io::Result<Fleet> {
        let tmp = tempfile::Builder::new().prefix("haul-fleet-").tempdir()?;
        let mut f = Fleet::start_in(tmp.path(), opts)?;
        f._tmp = Some(tmp);
        Ok(f)
    }

    /// Starts a fleet whose files live in `dir`.
    pub fn start_in(dir: &Path, opts: FleetOptions) -> io::Result<Fleet> {
        if !is_root() {
            return Err(io::Error::other("the SSH test fleet needs root (it makes mount namespaces)"));
        }
        std::fs::create_dir_all(dir.join("hosts"))?;
        std::fs::create_dir_all("/run/sshd")?;
        let dir = std::fs::canonicalize(dir)?;
        let mut opts = opts;
        if opts.port == 0 {
            opts.port = free_port(opts.hosts)?;
        }
        let client = keygen(&dir.join("client_key"))?;
        std::fs::write(dir.join("authorized_keys"), format!("{client}\n"))?;
        let mut fleet = Fleet { dir: dir.clone(), _tmp: None, hosts: vec![], bastion: None, opts: opts.clone() };
        let mut known = String::new();
        let size = |i: usize| opts.srv_sizes.iter().find(|(h, _)| *h == i).map(|(_, s)| s.clone());
        let mut specs: Vec<(String, String, bool, Option<String>)> =
            (0..opts.hosts).map(|i| (format!("h{}", i + 1), address(i), opts.bastion, size(i))).collect();
        if opts.bastion {
            specs.push(("bastion".into(), BASTION_ADDRESS.into(), false, None));
        }
        for (name, addr, guarded, srv_size) in specs {
            let hdir = dir.join("hosts").join(&name);
            std::fs::create_dir_all(&hdir)?;
            let key = keygen(&hdir.join("host_key"))?;
            known.push_str(&format!(
                "[{addr}]:{} {}\n",
                opts.port,
                key.rsplit_once(' ').map_or(key.as_str(), |(k, _)| k)
            ));
            let mut cfg = format!(
                "ListenAddress {addr}:{port}\nHostKey {hk}\nPidFile none\nAuthorizedKeysFile {ak}\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nMaxStartups 500\nMaxSessions 100\nLogLevel ERROR\nPrintMotd no\nAcceptEnv LANG\n",
                port = opts.port,
                hk = hdir.join("host_key").display(),
                ak = dir.join("authorized_keys").display(),
            );
            if guarded {
                // Only connections the bastion forwards come from 127.0.0.1.
                cfg.push_str("AllowUsers root@127.0.0.1\n");
            }
            std::fs::write(hdir.join("sshd_config"), cfg)?;
            let (holder, holder_start) = spawn_holder(&hdir, opts.persist, srv_size.as_deref())?;
            let host =
                FleetHost { name: name.clone(), address: addr, port: opts.port, holder, holder_start, dir: hdir };
            if name == "bastion" {
                fleet.bastion = Some(host);
            } else {
                fleet.hosts.push(host);
            }
        }
        std::fs::write(dir.join("known_hosts"), known)?;
        let mut ssh = format!(
            "# The fleet's client settings.\nUser root\nIdentityFile {}\nIdentitiesOnly yes\nUserKnownHostsFile {}\nLogLevel ERROR\n",
            dir.join("client_key").display(),
            dir.join("known_hosts").display()
        );
        if opts.bastion {
            ssh.push_str(&format!("BindAddress {CLIENT_ADDRESS}\n"));
        }
        std::fs::write(dir.join("ssh_config"), ssh)?;
        for i in 0..fleet.all().len() {
            let h = fleet.all()[i].clone();
            fleet.start_sshd(&h)?;
        }
        Ok(fleet)
    }

    fn all(&self) -> Vec<&FleetHost> {
        self.hosts.iter().chain(self.bastion.as_ref()).collect()
    }

    /// The `ssh_config` clients of this fleet use.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    fn start_sshd(&self, h: &FleetHost) -> io::Result<()> {
        let mut cmd = detached("nsenter", self.opts.persist);
        cmd.arg(format!("--mount=/proc/{}/ns/mnt", h.holder))
            .arg(format!("--pid=/proc/{}/ns/pid_for_children", h.holder))
            .arg("--")
            .arg("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(h.dir.join("sshd_config"))
            .arg("-E")
            .arg(h.dir.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect((h.address.as_str(), h.port)).is_ok() {
                // Reap the child in the background so it never lingers as a zombie.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default();
                return Err(io::Error::other(format!("sshd for {} exited ({status}): {log}", h.name)));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!("sshd for {} did not start listening", h.name)));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Takes host `i` down: its sshd and everything running in it die.
    pub fn stop_host(&self, i: usize) {
        kill_namespace(&self.hosts[i], false);
    }

    /// Brings host `i` back, with its disk as it was.
    pub fn start_host(&self, i: usize) -> io::Result<()> {
        self.start_sshd(&self.hosts[i])
    }

    /// A `haul.toml` for this fleet: `body` (apps and environments) followed
    /// by `[ssh]` and a `[hosts.*]` table per host (roles `web`; the first
    /// also `db`), reached through the bastion when there is one.
    pub fn haul_toml(&self, body: &str) -> String {
        let mut t = format!("{body}\n[ssh]\nconfig = \"{}\"\n", self.ssh_config().display());
        if let Some(b) = &self.bastion {
            t.push_str(&format!("\n[hosts.bastion]\naddress = \"{}\"\nport = {}\n", b.address, b.port));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let roles = if i == 0 { "[\"web\", \"db\"]" } else { "[\"web\"]" };
            t.push_str(&format!(
                "\n[hosts.{}]\naddress = \"{}\"\nport = {}\nroot = \"/srv\"\nroles = {roles}\n",
                h.name, h.address, h.port
            ));
            if self.bastion.is_some() {
                t.push_str("jump = \"bastion\"\n");
            }
        }
        t
    }

    /// The host names, quoted for a TOML list.
    pub fn names_toml(&self) -> String {
        let v: Vec<String> = self.hosts.iter().map(|h| format!("\"{}\"", h.name)).collect();
        format!("[{}]", v.join(", "))
    }

    /// Stops every host and its holder.
    pub fn shutdown(&self) {
        for h in self.all() {
            kill_namespace(h, true);
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if !self.opts.persist {
            self.shutdown();
        }
    }
}

/// A port free on the addresses of `n` hosts and the bastion.
fn free_port(n: usize) -> io::Result<u16> {
    'search: for _ in 0..50 {
        let port = std::net::TcpListener::bind((address(0).as_str(), 0))?.local_addr()?.port();
        for addr in (0..n).map(address).chain([BASTION_ADDRESS.to_string()]) {
            if std::net::TcpListener::bind((addr.as_str(), port)).is_err() {
                continue 'search;
            }
        }
        return Ok(port);
    }
    Err(io::Error::other("no free port for the fleet"))
}

fn is_root() -> bool {
    // Without a libc dependency: the effective uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

//! The SSH transport: the system OpenSSH client, one multiplexed master
//! connection per host for the whole run.
//!
//! haul writes an `ssh_config` of its own (its forced settings, then
//! `Include`s of the config named in `haul.toml`, the user's
//! `~/.ssh/config` and the system one) and connects to each host by its
//! address as written, so the user's `Host` aliases and `Match` blocks apply
//! exactly as they do to `ssh <address>` (see `ssh_args`). A jump hop named
//! in `haul.toml` gets one master, opened once; every host behind it reaches
//! its target through that master (`ssh -S <hop> -W`), so the bastion's
//! connection is shared. Commands then go through each master with the mux
//! protocol: no process, no handshake per command.
//!
//! Masters live at stable paths in a private per-user directory. While a
//! run's pool lives it stays attached to every master it uses, so none
//! times out mid-run; afterwards each stays up for `persist` (like
//! Ansible's ControlPersist) so the next haul command finds it ready, or is
//! closed at once when `persist` is zero. Paths are short hashes: a unix
//! socket path longer than 108 bytes makes ssh fail with a misleading error.

use crate::masters::{Master, control_path, private_dir, stop_masters};
use crate::ssh_args::{Endpoint, SshSetupError, config_text};
use crate::{Input, LineSink, Output, TransportError};
use openssh::{Session, Stdio};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// A hop on the way to a host: a bastion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Identifies the hop: its `[hosts]` name or the destination as written.
    pub key: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
}

/// One host reached over SSH.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub name: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Jump hosts, nearest first.
    pub jump: Vec<Hop>,
}

/// Settings shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// An `ssh_config` to include before the user's own.
    pub config: Option<PathBuf>,
    /// Add unknown host keys instead of refusing them.
    pub accept_new: bool,
    pub connect_timeout: Duration,
    /// How long an idle master stays up for the next command; zero closes
    /// masters when the pool is dropped.
    pub persist: Duration,
}

type Cell = OnceCell<Result<Arc<Session>, String>>;

/// The shortest idle time a master is started with. A master is idle the
/// moment it is up; until the pool's hold reaches it, only this keeps it
/// from exiting on a busy machine. `persist = "0s"` masters are closed
/// explicitly at the end of the run.
const PERSIST_FLOOR: Duration = Duration::from_secs(10);

/// The connections of one run.
pub struct SshPool {
    /// Private to this user; holds the config, sockets and logs.
    dir: PathBuf,
    /// Identifies this set of hosts and options: masters are reused only by
    /// runs with the same key.
    key: String,
    config: PathBuf,
    opts: SshOptions,
    hops: Vec<Hop>,
    hop_cells: Vec<Cell>,
    /// Host name → (alias, hop indices nearest first).
    targets: HashMap<String, (String, Vec<usize>)>,
    /// Alias → how ssh reaches it.
    endpoints: HashMap<String, Endpoint>,
    cells: HashMap<String, Cell>,
    /// One open connection to each master's control socket while the pool
    /// lives: a master with a client attached is never idle, so it cannot
    /// time out between two commands of the run (at a barrier, under load).
    /// Each hold also names the master's process, so closing can wait for
    /// the process itself to end, not only its socket.
    holds: Mutex<Vec<(UnixStream, Option<Master>)>>,
}

impl std::fmt::Debug for SshPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshPool").field("dir", &self.dir).field("key", &self.key).finish()
    }
}

fn alias_host(name: &str) -> String {
    format!("haul.h.{name}")
}

fn alias_hop(i: usize) -> String {
    format!("haul.j{i}")
}

impl SshPool {
    /// Prepares connections to `targets`; nothing connects until used.
    /// Refuses any address, user or jump hop that is not one plain word.
    pub fn new(targets: &[SshTarget], opts: SshOptions) -> Result<Arc<SshPool>, SshSetupError> {
        let dir = private_dir()?;
        let mut hops: Vec<Hop> = Vec::new();
        let mut map = HashMap::new();
        for t in targets {
            let chain: Vec<usize> = t
                .jump
                .iter()
                .map(|h| match hops.iter().position(|x| x.key == h.key) {
                    Some(i) => i,
                    None => {
                        hops.push(h.clone());
                        hops.len() - 1
                    }
                })
                .collect();
            map.insert(t.name.clone(), (alias_host(&t.name), chain));
        }
        let key = {
            let mut h = blake3::Hasher::new();
            h.update(format!("{targets:?}{opts:?}").as_bytes());
            h.finalize().to_hex()[..16].to_string()
        };
        let config = dir.join(format!("{key}.conf"));
        let ctl = |alias: &str| control_path(&dir, &key, alias);
        // Through hop `i`: a stdio forward over its master.
        let proxy = |i: usize| {
            format!(
                "ssh -F {} -o ControlMaster=no -S {} -W [%h]:%p {}",
                config.display(),
                ctl(&alias_hop(i)).display(),
                alias_hop(i)
            )
        };
        // A hop is reached through the hop before it in the first chain that
        // names it.
        let mut hop_prev: Vec<Option<usize>> = vec![None; hops.len()];
        for (_, chain) in map.values() {
            for w in chain.windows(2) {
                hop_prev[w[1]].get_or_insert(w[0]);
            }
        }
        let mut endpoints = HashMap::new();
        for (i, h) in hops.iter().enumerate() {
            let e = Endpoint::new(&h.key, &h.address, h.user.as_deref(), h.port, hop_prev[i].map(proxy))?;
            endpoints.insert(alias_hop(i), e);
        }
        for t in targets {
            let through = map[&t.name].1.last().map(|&l| proxy(l));
            let e = Endpoint::new(&t.name, &t.address, t.user.as_deref(), t.port, through)?;
            endpoints.insert(alias_host(&t.name), e);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute());
        let text = config_text(&opts, home.as_deref())?;
        // Written to a temporary name and renamed: another haul may be
        // reading the same file.
        let tmp = dir.join(format!("{key}.conf.{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &config)?;

        let cells = targets.iter().map(|t| (t.name.clone(), Cell::new())).collect();
        let hop_cells = hops.iter().map(|_| Cell::new()).collect();
        Ok(Arc::new(SshPool {
            dir,
            key,
            config,
            opts,
            hops,
            hop_cells,
            targets: map,
            endpoints,
            cells,
            holds: Mutex::new(Vec::new()),
        }))
    }

    /// The transport for host `name`.
    pub fn host(self: &Arc<Self>, name: &str) -> SshHost {
        SshHost { pool: self.clone(), name: name.to_string() }
    }

    /// The generated `ssh_config` (for running `ssh`/`rsync` alongside).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    fn ctl(&self, alias: &str) -> PathBuf {
        control_path(&self.dir, &self.key, alias)
    }

    /// Attaches to the master at `ctl` for the rest of the run.
    fn hold(&self, ctl: &Path) -> Result<(), String> {
        let s = UnixStream::connect(ctl).map_err(|e| format!("cannot attach to {}: {e}", ctl.display()))?;
        let master = Master::behind(&s, ctl);
        self.holds.lock().unwrap_or_else(|p| p.into_inner()).push((s, master));
        Ok(())
    }

    /// Attaches to a master just started. `ssh -M -f` may return before
    /// the master's control socket is in place (seen with a thousand
    /// masters starting at once on two CPUs), so a missing socket is waited
    /// for a while; a master that died instead is reported by its log.
    async fn hold_when_listening(&self, ctl: &Path, log: &Path) -> Result<(), String> {
        let start = std::time::Instant::now();
        loop {
            let e = match self.hold(ctl) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            // A master that gave up says why in its log (after a moment:
            // one still starting may have logged a warning).
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if !text.trim().is_empty() && start.elapsed() >= Duration::from_secs(1) {
                return Err(describe(text.trim()));
            }
            if ctl.exists() || start.elapsed() >= MASTER_SOCKET_WAIT {
                return Err(if text.trim().is_empty() { e } else { describe(text.trim()) });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The master for `alias`: the one left running by an earlier command
    /// when it still answers, else a new one.
    async fn connect(&self, alias: &str) -> Result<Arc<Session>, String> {
        let ctl = self.ctl(alias);
        // One haul at a time decides whether to start this master.
        let lock_path = ctl.with_extension("lock");
        let guard = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::create(&lock_path)?;
            f.lock()?;
            Ok::<_, std::io::Error>(f)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot lock {}: {e}", ctl.display()))?;
        if ctl.exists() {
            let s = Session::resume_mux(ctl.clone().into_boxed_path(), None);
            if s.check().await.is_ok() && self.hold(&ctl).is_ok() {
                return Ok(Arc::new(s));
            }
            let _ = std::fs::remove_file(&ctl);
        }
        let log = ctl.with_extension("log");
        let _ = std::fs::remove_file(&log);
        let persist = self.opts.persist.max(PERSIST_FLOOR).as_secs();
        let end = &self.endpoints[alias];
        let status = tokio::process::Command::new("ssh")
            .arg("-F")
            .arg(&self.config)
            .args(["-M", "-f", "-N", "-S"])
            .arg(&ctl)
            .arg("-E")
            .arg(&log)
            .args(["-o", &format!("ControlPersist={persist}s")])
            .args(&end.args)
            .arg(&end.dest)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        if !status.success() {
            drop(guard);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(describe(text.trim()));
        }
        let held = self.hold_when_listening(&ctl, &log).await;
        drop(guard);
        held?;
        Ok(Arc::new(Session::resume_mux(ctl.into_boxed_path(), Some(log.into_boxed_path()))))
    }

    async fn hop(&self, i: usize, chain: &[usize]) -> Result<(), String> {
        let pos = chain.iter().position(|&c| c == i).expect("hop in chain");
        if pos > 0 {
            Box::pin(self.hop(chain[pos - 1], chain)).await?;
        }
        self.hop_cells[i]
            .get_or_init(|| async {
                self.connect(&alias_hop(i)).await.map_err(|e| format!("jump host {}: {e}", self.hops[i].key))
            })
            .await
            .clone()
            .map(|_| ())
    }

    /// The master connection to host `name`, opened on first use.
    pub async fn session(&self, name: &str) -> Result<Arc<Session>, String> {
        let (alias, chain) = self.targets.get(name).ok_or_else(|| format!("unknown host {name}"))?;
        self.cells[name]
            .get_or_init(|| async {
                for &i in chain {
                    self.hop(i, chain).await?;
                }
                self.connect(alias).await
            })
            .await
            .clone()
    }
}

/// How long a master's control socket may take to appear after `ssh -M -f`
/// returned.
const MASTER_SOCKET_WAIT: Duration = Duration::from_secs(30);

impl Drop for SshPool {
    /// Lets go of every master: with `persist`, each then stays up that long
    /// for the next command; without, each is asked to exit (hosts before
    /// the hops they go through, in parallel) and is gone when this returns.
    fn drop(&mut self) {
        let holds = std::mem::take(self.holds.get_mut().unwrap_or_else(|p| p.into_inner()));
        let masters: Vec<Master> = holds.into_iter().filter_map(|(_, m)| m).collect();
        if !self.opts.persist.is_zero() {
            return;
        }
        let hosts = opened(self.cells.values());
        let hops = opened(self.hop_cells.iter().rev());
        stop_masters(&hosts, &masters);
        stop_masters(&hops, &masters);
    }
}

/// The control sockets of the masters that `cells` opened.
fn opened<'a>(cells: impl Iterator<Item = &'a Cell>) -> Vec<PathBuf> {
    cells.filter_map(|c| c.get().and_then(|r| r.as_ref().ok())).map(|s| s.control_socket().to_path_buf()).collect()
}

/// Turns what ssh said into a message a person can act on.
fn describe(said: &str) -> String {
    let mut s: String = said.lines().filter(|l| !l.starts_with('@')).collect::<Vec<_>>().join("\n");
    if s.is_empty() {
        s = "ssh failed without saying why".into();
    }
    if s.contains("Host key verification failed") {
        s.push_str(" (the host key is not known or has changed: see `haul check --hosts`)");
    }
    s
}

fn openssh_error(e: &openssh::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// One host of an [`SshPool`].
#[derive(Debug, Clone)]
pub struct SshHost {
    pool: Arc<SshPool>,
    name: String,
}

impl SshHost {
    pub fn host(&self) -> &str {
        &self.name
    }

    /// The `-e` command and the `host:` prefix with which `rsync` reaches
    /// this host through its master connection (open it first).
    pub fn rsync_remote(&self) -> Option<(String, String)> {
        let (alias, _) = self.pool.targets.get(&self.name)?;
        let ctl = self.pool.ctl(alias);
        let shell = format!(
            "ssh -F {} -o ControlPath={} -o ControlMaster=no -o BatchMode=yes",
            self.pool.config.display(),
            ctl.display()
        );
        Some((shell, format!("{alias}:")))
    }

    /// Opens the connection now (it is otherwise opened on first use).
    pub async fn connect(&self) -> Result<(), TransportError> {
        self.pool.session(&self.name).await.map(|_| ()).map_err(|m| self.error(m))
    }

    fn error(&self, message: String) -> TransportError {
        TransportError { host: self.name.clone(), message }
    }

    pub(crate) async fn exec<A: AsRef<std::ffi::OsStr>>(
        &self,
        script: &str,
        args: &[A],
        input: Input,
        to: Option<crate::Writer>,
        sink: Option<LineSink>,
    ) -> Result<Output, TransportError> {
        // The login shell may not be sh: the line runs the script with sh
        // explicitly. Checked before connecting: a refused argument is the
        // caller's fault, not the host's.
        let command = crate::words::command_line(script, args).map_err(|e| self.error(e.to_string()))?;
        let session = self.pool.session(&self.name).await.map_err(|m| self.error(m))?;
        let mut cmd = session.raw_command(command);
        cmd.stdin(match input {
            Input::None => Stdio::null(),
            _ => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.error(format!("connection lost: {}", openssh_error(&e))))?;
        let (fed, out, err) =
            crate::drive_io(child.stdin().take(), child.stdout().take(), child.stderr().take(), input, to, sink).await;
        let status = child.wait().await.map_err(|e| self.error(format!("connection lost: {}", openssh_error(&e))))?;
        crate::finish(fed, out, err, status.code()).map_err(|e| self.error(e.to_string()))
    }
}

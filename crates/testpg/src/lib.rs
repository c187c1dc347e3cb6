//! A throwaway real PostgreSQL server on a loopback port, for tests.
//!
//! Tests of the ledger run against a real PostgreSQL rather than a stand-in:
//! its SQL, its types, its transactions and its locks are what production
//! sees, and only the real server behaves like the real server.
//! [`Postgres::start`] makes a fresh cluster in a temporary directory and
//! starts a server that listens on a free port of 127.0.0.1 only (so trust
//! authentication is safe) with durability off (a test's data never outlives
//! the test), unless `HAUL_PG_DURABLE=1` asks for PostgreSQL's default
//! durable settings (what the ledger benchmark also measures). Each test takes its own database with
//! [`Postgres::create_database`], so tests running in parallel never see each
//! other's rows. [`Postgres::stop`] and [`Postgres::restart`] take the
//! server down and bring it back on the same port with its data, for tests
//! of what happens to its clients meanwhile. Dropping the [`Postgres`] stops
//! the server and removes its directory.
//!
//! CI runs the tests as root, and `initdb`, `postgres` and `pg_ctl` refuse to
//! run as root: then they run as the `postgres` system user (the one the
//! Debian packages create) through `setpriv`, or `runuser` where there is no
//! `setpriv`, in a directory handed over to that user. Otherwise they run as
//! the current user. The server tools are looked for in `/usr/local/bin`, on
//! `PATH`, then in `/usr/lib/postgresql/*/bin` (newest version first), where
//! Debian keeps them off `PATH`.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// How long a server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(30);
/// Starts tried when another process takes the chosen port first.
const PORT_ATTEMPTS: usize = 5;

/// A running PostgreSQL server: superuser `postgres`, trust authentication,
/// listening on 127.0.0.1. Stopped, and its files removed, on drop.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    server: Child,
    tools: Tools,
    run_as: RunAs,
    data: PathBuf,
    // Last: removed only after the server is stopped.
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Initializes a cluster in a temporary directory and starts a server on
    /// a free port; returns once it accepts connections.
    pub fn start() -> io::Result<Postgres> {
        let tools = Tools::find()?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new().prefix("haul-pg-").tempdir()?;
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets)?;
        if let RunAs::Postgres { uid, gid, .. } = run_as {
            for d in [dir.path(), &sockets] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .map_err(|e| io::Error::new(e.kind(), format!("chown {} to postgres: {e}", d.display())))?;
            }
        }
        // --no-sync: a test's cluster need not survive a crash of the machine.
        run(
            run_as.command(&tools.initdb, dir.path()).arg("-D").arg(&data).args([
                "--auth=trust",
                "--username=postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let log = dir.path().join("postgres.log");
        let mut attempt = 1;
        loop {
            let port = TcpListener::bind((HOST, 0))?.local_addr()?.port();
            let mut server = spawn_server(&tools, &run_as, dir.path(), &data, port)?;
            match wait_ready(&mut server, port, &tools, &data) {
                Ok(()) => return Ok(Postgres { port, server, tools, run_as, data, dir }),
                // Another process took the port between our probe and the bind.
                Err(Startup::Exited(_)) if log_tail(&log).contains("could not bind") && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(startup_error(e, &mut server, port, &log)),
            }
        }
    }

    /// Stops the server (a fast shutdown: connections are cut, committed
    /// data stays) and waits until nothing listens on its port. Its data
    /// stays for [`Postgres::restart`].
    pub fn stop(&mut self) -> io::Result<()> {
        if matches!(self.server.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        match &self.tools.pg_ctl {
            Some(pg_ctl) => {
                run(
                    self.run_as
                        .command(pg_ctl, self.dir.path())
                        .arg("stop")
                        .arg("-D")
                        .arg(&self.data)
                        .args(["-m", "fast", "-w", "-t", "30"]),
                    "pg_ctl stop",
                )?;
            }
            None => {
                // SIGINT to the postmaster is a fast shutdown.
                run(Command::new("kill").args(["-INT", &self.server.id().to_string()]), "kill -INT postgres")?;
            }
        }
        self.server.wait()?;
        Ok(())
    }

    /// Starts a stopped server again on the same port, with the same data;
    /// returns once it accepts connections.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        let log = self.dir.path().join("postgres.log");
        self.server = spawn_server(&self.tools, &self.run_as, self.dir.path(), &self.data, self.port)?;
        wait_ready(&mut self.server, self.port, &self.tools, &self.data)
            .map_err(|e| startup_error(e, &mut self.server, self.port, &log))
    }

    /// The URL of the `postgres` database, as the `postgres` superuser.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// Creates a new, empty database and returns its URL. Names are 1 to 63
    /// ASCII letters, digits, `_` or `-` (so they need no escaping in the URL).
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        if name.is_empty()
            || name.len() > 63
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("database name {name:?}: use 1 to 63 ASCII letters, digits, `_` or `-`"),
            ));
        }
        let psql = self.tools.psql.as_deref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no psql found to create a database with (install postgresql-client)",
            )
        })?;
        run(
            Command::new(psql)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-c")
                .arg(format!("CREATE DATABASE \"{name}\"")),
            &format!("psql: CREATE DATABASE \"{name}\""),
        )?;
        Ok(self.url_of(name))
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@{HOST}:{}/{database}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // An immediate shutdown still lets the server remove its shared memory.
        if let Some(pg_ctl) = &self.tools.pg_ctl {
            let _ = self
                .run_as
                .command(pg_ctl, self.dir.path())
                .arg("stop")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "-t", "10"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if !matches!(self.server.try_wait(), Ok(Some(_))) {
            kill_group(&mut self.server);
        }
    }
}

/// The programs used, found once.
#[derive(Debug)]
struct Tools {
    initdb: PathBuf,
    postgres: PathBuf,
    pg_ctl: Option<PathBuf>,
    pg_isready: Option<PathBuf>,
    psql: Option<PathBuf>,
}

impl Tools {
    fn find() -> io::Result<Tools> {
        let dirs = search_dirs();
        // initdb and postgres from one directory, so their versions match.
        let server = dirs.iter().find(|d| is_executable(&d.join("initdb")) && is_executable(&d.join("postgres")));
        let Some(server) = server else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no initdb and postgres found in /usr/local/bin, on PATH or in /usr/lib/postgresql/*/bin \
                 (install postgresql)",
            ));
        };
        let same_first: Vec<PathBuf> = std::iter::once(server.clone()).chain(dirs.iter().cloned()).collect();
        Ok(Tools {
            initdb: server.join("initdb"),
            postgres: server.join("postgres"),
            pg_ctl: find(&same_first, "pg_ctl"),
            pg_isready: find(&same_first, "pg_isready"),
            psql: find(&dirs, "psql"),
        })
    }
}

/// `/usr/local/bin`, `PATH`, then `/usr/lib/postgresql/*/bin`, newest first.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/local/bin")];
    dirs.extend(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u32>>>()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.extend(versions.into_iter().map(|(_, d)| d));
    dirs
}

fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Who runs the server tools: the current user, or, when that is root, the
/// `postgres` user through a command that switches to it.
#[derive(Debug)]
enum RunAs {
    Me,
    Postgres { uid: u32, gid: u32, switch: Vec<OsString> },
}

impl RunAs {
    fn detect() -> io::Result<RunAs> {
        if !is_root() {
            return Ok(RunAs::Me);
        }
        let (uid, gid) = postgres_user()?;
        let dirs: Vec<PathBuf> = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].into_iter().map(PathBuf::from).collect();
        // setpriv execs the tool itself; runuser stays as its parent.
        let switch: Vec<OsString> = if let Some(setpriv) = find(&dirs, "setpriv") {
            vec![setpriv.into(), "--reuid=postgres".into(), "--regid=postgres".into(), "--init-groups".into()]
        } else if let Some(runuser) = find(&dirs, "runuser") {
            vec![runuser.into(), "-u".into(), "postgres".into()]
        } else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, but no setpriv or runuser found to run postgres as the postgres user \
                 (install util-linux)",
            ));
        };
        Ok(RunAs::Postgres { uid, gid, switch })
    }

    /// A command running `program` as the right user, in `dir` (the user
    /// may not be allowed into the current directory).
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = match self {
            RunAs::Me => Command::new(program),
            RunAs::Postgres { switch, .. } => {
                let mut cmd = Command::new(&switch[0]);
                cmd.args(&switch[1..]).arg("--").arg(program);
                cmd
            }
        };
        cmd.current_dir(dir);
        cmd
    }
}

fn is_root() -> bool {
    // Without a libc dependency: the effective uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_user() -> io::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, but there is no postgres user to run postgres as (install postgresql)",
            )
        })
}

enum Startup {
    Exited(std::process::ExitStatus),
    TimedOut,
    Wait(io::Error),
}

/// Waits until the server accepts connections: its port takes a TCP
/// connection and then `pg_isready` says so (without `pg_isready`, the state
/// the server writes into `postmaster.pid` does).
fn wait_ready(server: &mut Child, port: u16, tools: &Tools, data: &Path) -> Result<(), Startup> {
    let deadline = Instant::now() + STARTUP;
    let addr = SocketAddr::from((HOST, port));
    loop {
        if let Some(status) = server.try_wait().map_err(Startup::Wait)? {
            return Err(Startup::Exited(status));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            let ready = match &tools.pg_isready {
                Some(pg_isready) => Command::new(pg_isready)
                    .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-t", "5", "-p"])
                    .arg(port.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_err(Startup::Wait)?
                    .success(),
                None => std::fs::read_to_string(data.join("postmaster.pid"))
                    .is_ok_and(|pid| pid.lines().nth(7).map(str::trim) == Some("ready")),
            };
            if ready {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(Startup::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `HAUL_PG_DURABLE=1` asks for the server's default durable
/// settings (fsync, full page writes, synchronous commit) instead of none.
fn durable() -> bool {
    std::env::var("HAUL_PG_DURABLE").is_ok_and(|v| v == "1")
}

/// Starts `postgres` on `port` over the cluster in `data`, logging to
/// `postgres.log` in `dir`.
fn spawn_server(tools: &Tools, run_as: &RunAs, dir: &Path, data: &Path, port: u16) -> io::Result<Child> {
    let out = File::create(dir.join("postgres.log"))?;
    run_as
        .command(&tools.postgres, dir)
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir.join("sockets"))
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(if durable() {
            &[][..]
        } else {
            &["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"][..]
        })
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Its own process group, which holds its backends too: Ctrl-C
        // in a terminal does not reach it, and one signal stops them all.
        .process_group(0)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", tools.postgres.display())))
}

/// The error for a server that did not come up (killed if still running).
fn startup_error(e: Startup, server: &mut Child, port: u16, log: &Path) -> io::Error {
    match e {
        Startup::Exited(status) => {
            io::Error::other(format!("postgres exited on startup ({status}): {}", log_tail(log)))
        }
        Startup::TimedOut => {
            kill_group(server);
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "postgres did not accept connections on {HOST}:{port} within {} s: {}",
                    STARTUP.as_secs(),
                    log_tail(log)
                ),
            )
        }
        Startup::Wait(e) => {
            kill_group(server);
            io::Error::new(e.kind(), format!("waiting for postgres: {e}"))
        }
    }
}

/// Kills the server's process group (the server and its backends) and reaps it.
fn kill_group(server: &mut Child) {
    let _ = Command::new("sh")
        .args(["-c", "kill -KILL -\"$1\"", "sh"])
        .arg(server.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = server.kill();
    let _ = server.wait();
}

/// The last lines of the server's log, for errors.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn run(cmd: &mut Command, what: &str) -> io::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: running {}: {e}", cmd.get_program().display())))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

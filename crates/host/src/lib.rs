//! The on-host layout of an app, and the only code that changes it.
//!
//! ```text
//! <app dir>/
//!   releases/<id>/         immutable trees
//!   releases/<id>.manifest the release record; its presence marks <id> complete
//!   shared/                persists across releases, linked into each
//!   current -> releases/<id>   replaced by renaming a new link over it
//!   .haul/lock             who holds the app on this host
//!   .haul/lock.guard       held for the moment a lock is released or taken over
//!   .haul/history          every switch, removal and unlock (JSON lines)
//!   shared/<secret>        secret files, written by `write_secret` (0600 by default)
//! ```
//!
//! Push deploys and pull agents both go through [`HostApp`], so the switch,
//! the lock, the history and the staging rule exist once. Every operation is
//! a POSIX `sh` script, a file of `scripts/` (see `scripts.rs`) sent through
//! a [`Transport`] with its data as arguments; the host needs `sh` (dash,
//! BusyBox and bash all do) and the common tools [`TOOLS`] lists (what
//! BusyBox alone gives is enough), nothing of haul.

mod content;
pub mod gate;
mod guard;
mod history;
mod hold;
mod holder;
mod lock;
mod probe;
mod prune;
mod scripts;
mod secret;
mod stage;
mod state;
mod tools;

pub use content::{ContentFile, is_content_path};
/// Quotes a string as one `sh` word: the transport's one rule, for code that
/// writes a person's command (a health check) into a script of its own.
pub use haul_transport::quote;
pub use history::{Event, EventKind, previous_links, rollback_target};
pub use hold::HeldLock;
pub use holder::Holder;
pub use lock::{LockInfo, LockOutcome};
pub use probe::HostProbe;
pub use prune::Pruned;
pub use secret::SecretFile;
pub use stage::{SharedPath, StageReport};
pub use state::{HostState, ReleaseOnHost};
pub use tools::{TOOLS, Tool, missing_tools, parse_probe_line, probe_script};

use haul_release::ReleaseId;
use haul_transport::{Input, LineSink, Output, Transport, TransportError};

/// Errors of on-host operations, each naming the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{host}: {what} failed{}{}", code.map(|c| format!(" (exit {c})")).unwrap_or_default(), if output.is_empty() { String::new() } else { format!(":\n{output}") })]
    Script { host: String, what: String, code: Option<i32>, output: String },
    /// A script stopped because the host lacks a command it uses.
    #[error(
        "{host}: {what} failed: `{tool}` is missing on this host; install it (`haul check --hosts` lists everything a host lacks)"
    )]
    MissingTool { host: String, what: String, tool: String },
    #[error("{host}: {message}")]
    Invalid { host: String, message: String },
    #[error("{host}: {source}")]
    Release {
        host: String,
        #[source]
        source: haul_release::ReleaseError,
    },
}

/// The exit codes with which `switch.sh` refuses before it moves `current`
/// (no app directory, release not complete, the link or rename failed, the
/// lock no longer the switching run's, the lock's guard held by another for
/// a minute).
const SWITCH_REFUSED: [i32; 5] = [3, 4, 5, LOCK_NOT_HELD, GUARD_BUSY];

/// The exit of a host script whose lock guard (`.haul/lock.guard`) stayed
/// held by a live taker for a minute (`guard.sh`).
const GUARD_BUSY: i32 = 10;

/// The exit of a switch refused because the lock is no longer held by the
/// run's token: cleared (`haul unlock`) or taken over since it was taken.
const LOCK_NOT_HELD: i32 = 9;

/// The exit of `switch-unlock.sh` when it switched but kept the lock.
const SWITCHED_STILL_LOCKED: i32 = 7;

impl HostError {
    /// Whether a switch was refused because its run no longer holds the
    /// host's lock (cleared by `haul unlock`, or taken over): `current` was
    /// not moved, and the lock is someone else's to release.
    pub fn lock_not_held(&self) -> bool {
        matches!(self, HostError::Script { code: Some(LOCK_NOT_HELD), .. })
    }

    /// Whether a failed [`HostApp::switch`] may have moved `current`: the
    /// connection was lost, or the script failed after the rename (exit 6:
    /// the history could not be written) or in a way it does not name. Only
    /// a refusal before the rename, a missing tool or an invalid id leaves
    /// `current` certainly where it was.
    pub fn switch_may_have_moved(&self) -> bool {
        match self {
            HostError::Transport(_) => true,
            HostError::Script { code, .. } => !code.is_some_and(|c| SWITCH_REFUSED.contains(&c)),
            HostError::MissingTool { .. } | HostError::Invalid { .. } | HostError::Release { .. } => false,
        }
    }
}

/// One app on one host.
#[derive(Debug, Clone)]
pub struct HostApp {
    transport: Transport,
    dir: String,
}

impl HostApp {
    pub fn new(transport: Transport, dir: impl Into<String>) -> Self {
        HostApp { transport, dir: dir.into() }
    }

    pub fn host(&self) -> &str {
        self.transport.host()
    }

    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub fn release_dir(&self, id: &ReleaseId) -> String {
        format!("{}/releases/{id}", self.dir)
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Runs `script` with `args` and turns a non-zero exit into
    /// [`HostError::Script`].
    async fn run_ok(&self, what: &str, script: &str, args: &[&str], input: Input) -> Result<Output, HostError> {
        let out = self.transport.exec_args(script, args, input, None).await?;
        if out.success() { Ok(out) } else { Err(self.script_error(what, &out)) }
    }

    pub fn script_error(&self, what: &str, out: &Output) -> HostError {
        let output = out.combined();
        if let Some(tool) = tools::missing_tool(out.code, &output) {
            return HostError::MissingTool { host: self.host().to_string(), what: what.to_string(), tool };
        }
        HostError::Script { host: self.host().to_string(), what: what.to_string(), code: out.code, output }
    }

    /// Runs a user's step in `cwd` with `env` exported. The step's own exit
    /// status is returned, not turned into an error.
    pub async fn run_step(
        &self,
        command: &str,
        cwd: &str,
        env: &[(String, String)],
        sink: Option<LineSink>,
    ) -> Result<Output, HostError> {
        let (script, args) = step_script(command, cwd, env);
        Ok(self.transport.exec_args(&script, &args, Input::None, sink).await?)
    }

    /// Runs a person's `command` in this directory (the deploy root), or in
    /// the home directory where it does not exist, with `env` exported.
    /// The command's own exit status is returned, not turned into an error.
    pub async fn run_command(
        &self,
        command: &str,
        env: &[(String, String)],
        sink: Option<LineSink>,
    ) -> Result<Output, HostError> {
        let (script, args) = step(command, &self.dir, "home", env);
        Ok(self.transport.exec_args(&script, &args, Input::None, sink).await?)
    }

    /// Switches `current` to `to` by renaming a new link over it, and records
    /// the switch, while the lock is held by `token` (checked on the host
    /// under the lock's guard: a run whose lock was cleared or taken over
    /// is refused, see [`HostError::lock_not_held`]). `to` must be a
    /// complete release. A failed switch whose error is
    /// [`HostError::switch_may_have_moved`] may have left `current` on `to`.
    pub async fn switch(&self, to: &ReleaseId, event: &Event, token: &str) -> Result<(), HostError> {
        let (event, to) = (event.to_line(), to.as_str());
        let args = [self.dir.as_str(), to, &event, token];
        self.run_ok(&format!("switch to {to}"), scripts::SWITCH, &args, Input::None).await?;
        Ok(())
    }

    /// [`HostApp::switch`], then releases the lock if `token` holds it, in
    /// the same round trip: for a switch that is the last thing a run does
    /// on this host. Returns whether the lock was released; a switch made
    /// whose lock could not be released is a success that leaves the lock
    /// to [`HostApp::unlock`]. Fails exactly as [`HostApp::switch`] does.
    pub async fn switch_unlock(&self, to: &ReleaseId, event: &Event, token: &str) -> Result<bool, HostError> {
        let (event, to) = (event.to_line(), to.as_str());
        let args = [self.dir.as_str(), to, &event, token];
        match self.run_ok(&format!("switch to {to}"), scripts::SWITCH_UNLOCK, &args, Input::None).await {
            Ok(_) => Ok(true),
            Err(HostError::Script { code: Some(SWITCHED_STILL_LOCKED), .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends an event to the history without switching.
    pub async fn record(&self, event: &Event) -> Result<(), HostError> {
        self.run_ok("record history", scripts::RECORD, &[&self.dir, &event.to_line()], Input::None).await?;
        Ok(())
    }

    /// Removes releases (never the live one: the script checks again on the
    /// host, under the lock's guard) and records each removal so the
    /// previous/next chain re-stitches; only while `token` holds the app's
    /// lock (else nothing is removed: [`HostError::lock_not_held`]).
    pub async fn remove(&self, ids: &[ReleaseId], event: impl Fn(&str) -> Event, token: &str) -> Result<(), HostError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut args = vec![self.dir.clone(), token.to_string()];
        for id in ids {
            args.extend([id.to_string(), event(id).to_line()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run_ok("remove releases", scripts::REMOVE, &args, Input::None).await?;
        Ok(())
    }

    /// Removes what the run whose lock token is `token` staged of a release
    /// that never completed (no manifest), and, only while that token
    /// holds the lock, the release's tree and what any run left of it,
    /// unless it is live.
    pub async fn discard_incomplete(&self, id: &ReleaseId, token: &str) -> Result<(), HostError> {
        let run = run_name(token);
        let args = [self.dir.as_str(), id, token, &run];
        self.run_ok("discard staged release", scripts::DISCARD, &args, Input::None).await?;
        Ok(())
    }

    /// Reads the release record of `id` from the host: by `read-release.sh`
    /// over a remote transport, by this process on a local one (an agent on
    /// its host, a local deploy), where the script would only have been a
    /// `sh` and a `cat`. Reading changes nothing, so the host scripts' rule
    /// (every change on a host is made by them) holds either way.
    pub async fn read_release(&self, id: &ReleaseId) -> Result<haul_release::Release, HostError> {
        let what = format!("read manifest of {id}");
        let text = if self.transport.is_local() {
            let path = format!("{}/releases/{id}.manifest", self.dir);
            // The error the script's failing `cat` gives (exit 1, its
            // message), so callers judge both transports' failures alike.
            let bytes = tokio::fs::read(&path).await.map_err(|e| HostError::Script {
                host: self.host().into(),
                what,
                code: Some(1),
                output: format!("{path}: {e}"),
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            self.run_ok(&what, scripts::READ_RELEASE, &[&self.dir, id], Input::None).await?.stdout_str()
        };
        let r = haul_release::Release::from_lines(&text).map_err(|e| HostError::Invalid {
            host: self.host().into(),
            message: format!("the record of release {id} is unreadable: {e}"),
        })?;
        r.manifest.check_paths().map_err(|source| HostError::Release { host: self.host().into(), source })?;
        Ok(r)
    }
}

/// The script and arguments that run a user's `command` in `cwd` with `env`
/// exported, the same on a host and on the machine running haul: the
/// command's text after `step.sh`, which takes the directory and the
/// variables as arguments.
pub fn step_script(command: &str, cwd: &str, env: &[(String, String)]) -> (String, Vec<String>) {
    step(command, cwd, "fail", env)
}

/// `step.sh` then `command`; `missing` says what a missing `cwd` does.
fn step(command: &str, cwd: &str, missing: &str, env: &[(String, String)]) -> (String, Vec<String>) {
    let script = format!("{}{command}\n", scripts::STEP);
    let mut args = vec![cwd.to_string(), missing.to_string()];
    args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    (script, args)
}

/// The name of what the run whose lock token is `token` stages under on a
/// host (a content sync's copy, the end of a release's stage names): the
/// token with every character but ASCII letters, digits, `-` and `_` made
/// `_`, after `by-`, so that it is one plain name that no glob skips and
/// no shell splits. Tokens differ in their process id and time, which are
/// kept.
pub(crate) fn run_name(token: &str) -> String {
    let safe: String =
        token.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("by-{safe}")
}

pub(crate) fn check_id(host: &str, id: &str) -> Result<(), HostError> {
    if haul_release::is_release_id(id) {
        Ok(())
    } else {
        Err(HostError::Invalid { host: host.into(), message: format!("`{id}` is not a release id") })
    }
}

#[cfg(test)]
mod tests {
    /// `live` where `PATH` has `ls` and `sed` but no `readlink`, under `shell`.
    fn live_works_without_readlink(shell: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in ["ls", "sed", shell] {
            let path = String::from_utf8(
                std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().stdout,
            )
            .unwrap();
            std::os::unix::fs::symlink(path.trim(), bin.join(tool)).unwrap();
        }
        std::os::unix::fs::symlink("releases/20261123T000000.000Z-abcdefabcdef", tmp.path().join("current")).unwrap();
        let mut command = std::process::Command::new(bin.join(shell));
        if shell == "busybox" {
            command.arg("sh");
        }
        let out = command
            .current_dir(tmp.path())
            .env("PATH", &bin)
            .args(["-c", &format!("{}\nlive", super::scripts::LIVE)])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "releases/20261123T000000.000Z-abcdefabcdef");
    }

    #[test]
    fn live_works_without_readlink_under_dash() {
        live_works_without_readlink("dash");
    }

    #[test]
    fn live_works_without_readlink_under_bash() {
        live_works_without_readlink("bash");
    }

    #[test]
    fn live_works_without_readlink_under_busybox_sh() {
        live_works_without_readlink("busybox");
    }
}

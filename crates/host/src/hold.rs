//! A lock held by an open session: taken, read under, switched under and
//! released by one script on the host, so the switch (and in a rollback
//! the release) costs no session of its own, and every host is still
//! locked before any of them changes.
//!
//! `lock-hold.sh` takes the lock and prints what is on the host, then a
//! marker line, and waits on its input. [`HeldLock`] is haul's end of that
//! input. [`HeldLock::switch`] switches and keeps the lock (a deploy, which
//! may still switch a host back or prune under it);
//! [`HeldLock::switch_unlock`] switches and releases (a rollback, whose
//! switch is the last thing it does). When the session ends without a
//! word (haul dropped the [`HeldLock`], exited, was killed, or lost the
//! connection), a lock taken by [`HostApp::lock_hold`] is released, and
//! one taken by [`HostApp::lock_keep`] stays, as a lock file whose holder
//! went away stays, for the run's own unlock or a take-over. The lock file
//! is the same as every other taker's, so every rule of `lock.rs` holds.

use crate::{Event, HostApp, HostError, HostState, LockInfo, LockOutcome, scripts};
use haul_release::ReleaseId;
use haul_transport::{Input, Output, TransportError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

/// How much of a host's answer is buffered between the script and haul.
const PIPE: usize = 64 * 1024;

/// A lock on one host held by a script waiting for haul's word. Dropping
/// it releases the lock on the host (the script reads the end of its
/// input) without waiting; [`HeldLock::release`] waits.
#[derive(Debug)]
pub struct HeldLock {
    app: HostApp,
    /// The lock's token, which the script's answers to a move carry.
    token: String,
    input: DuplexStream,
    output: BufReader<DuplexStream>,
    task: JoinHandle<Result<Output, TransportError>>,
}

impl HostApp {
    /// [`HostApp::lock_inspect`], keeping the session open: when the lock
    /// was acquired, returns what is on the host and the [`HeldLock`] that
    /// switches and releases it in the same session. The lock is released
    /// when the session ends without a word from haul.
    pub async fn lock_hold(&self, info: &LockInfo) -> Result<(LockOutcome, Option<(HostState, HeldLock)>), HostError> {
        self.hold_with(info, false).await
    }

    /// [`HostApp::lock_hold`] for a run that works on under the lock after
    /// its switch: a session that ends without a word leaves the lock
    /// held, as a lock file whose holder went away stays.
    pub async fn lock_keep(&self, info: &LockInfo) -> Result<(LockOutcome, Option<(HostState, HeldLock)>), HostError> {
        self.hold_with(info, true).await
    }

    async fn hold_with(
        &self,
        info: &LockInfo,
        keep: bool,
    ) -> Result<(LockOutcome, Option<(HostState, HeldLock)>), HostError> {
        let line = serde_json::to_string(info).expect("lock serializes");
        let marker = format!("@held {}", info.token);
        let (input, script_in) = tokio::io::duplex(PIPE);
        let (script_out, output) = tokio::io::duplex(PIPE);
        let transport = self.transport().clone();
        let when_lost = if keep { "keep" } else { "release" };
        let args = [self.dir().to_string(), line, marker.clone(), info.token.clone(), when_lost.to_string()];
        let task = tokio::spawn(async move {
            let input = Input::Reader(Box::new(script_in));
            transport.exec_stream(scripts::LOCK_HOLD, &args, input, Box::new(script_out), None).await
        });
        let token = info.token.clone();
        let mut held = HeldLock { app: self.clone(), token, input, output: BufReader::new(output), task };
        let mut text = Vec::new();
        let mut marked = false;
        loop {
            let start = text.len();
            let n = held.output.read_until(b'\n', &mut text).await.map_err(|e| lost(&held.app, &e.to_string()))?;
            if n == 0 {
                break;
            }
            if text[start..].strip_suffix(b"\n") == Some(marker.as_bytes()) {
                text.truncate(start);
                marked = true;
                break;
            }
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        if !marked {
            // The script ended without holding the lock: held by someone
            // else, or failed. Its input is closed first, or the transport
            // would wait for it.
            let out = held.finish().await?;
            if !out.success() {
                let out = Output { stdout: text.into_bytes(), ..out };
                return Err(self.script_error("take lock", &out));
            }
            return Ok((self.outcome(&text)?, None));
        }
        let state = text
            .strip_prefix("acquired\n")
            .ok_or_else(|| HostError::Invalid {
                host: self.host().into(),
                message: format!("unexpected answer while taking the lock: {text}"),
            })
            .and_then(|state| crate::state::parse_state(self.host(), state));
        match state {
            Ok(state) => Ok((LockOutcome::Acquired, Some((state, held)))),
            Err(e) => {
                // Nothing can be done under a lock whose host cannot be
                // read: it is released before the error is told.
                held.release().await?;
                Err(e)
            }
        }
    }
}

impl HeldLock {
    pub fn host(&self) -> &str {
        self.app.host()
    }

    /// Switches to the complete release `to`, recording `event`, keeping
    /// the lock: [`HostApp::switch`] in the held session, failing as it
    /// does (so [`HostError::switch_may_have_moved`] tells whether
    /// `current` may have moved). A session lost on the way is a transport
    /// error; the [`HeldLock`] is then of no more use.
    pub async fn switch(&mut self, to: &ReleaseId, event: &Event) -> Result<(), HostError> {
        let command = format!("move\n{to}\n{}\n", event.to_line());
        let gone = |e: std::io::Error| lost(&self.app, &e.to_string());
        self.input.write_all(command.as_bytes()).await.map_err(gone)?;
        let done = format!("@moved {} ", self.token);
        let mut said = Vec::new();
        let code = loop {
            let start = said.len();
            let n = self.output.read_until(b'\n', &mut said).await.map_err(gone)?;
            if n == 0 {
                let said = String::from_utf8_lossy(&said);
                let said = said.trim();
                let why = if said.is_empty() { String::new() } else { format!(": {said}") };
                return Err(lost(&self.app, &format!("the session ended during the switch{why}")));
            }
            let answer = said[start..].strip_prefix(done.as_bytes()).and_then(|a| a.strip_suffix(b"\n"));
            if let Some(answer) = answer {
                let code = std::str::from_utf8(answer).ok().and_then(|c| c.parse::<i32>().ok());
                said.truncate(start);
                break code;
            }
        };
        let out = Output { code, stdout: said, stderr: Vec::new(), downstream_closed: false };
        match code {
            Some(0) => Ok(()),
            _ => Err(self.app.script_error(&format!("switch to {to}"), &out)),
        }
    }

    /// Switches to the complete release `to`, recording `event`, and then
    /// releases the lock: [`HostApp::switch_unlock`] in the held session.
    /// Returns whether the lock was released; fails exactly as
    /// [`HostApp::switch`] does, so [`HostError::switch_may_have_moved`]
    /// tells whether `current` may have moved.
    pub async fn switch_unlock(mut self, to: &ReleaseId, event: &Event) -> Result<bool, HostError> {
        let command = format!("switch\n{to}\n{}\n", event.to_line());
        // A failed write is judged by how the script ended, below.
        let _ = self.input.write_all(command.as_bytes()).await;
        let app = self.app.clone();
        let out = self.finish().await?;
        match out.code {
            Some(0) => Ok(true),
            Some(crate::SWITCHED_STILL_LOCKED) => Ok(false),
            _ => Err(app.script_error(&format!("switch to {to}"), &out)),
        }
    }

    /// Releases the lock, changing nothing else, and waits until it is.
    pub async fn release(mut self) -> Result<(), HostError> {
        let _ = self.input.write_all(b"release\n").await;
        let app = self.app.clone();
        let out = self.finish().await?;
        match out.code {
            Some(0) => Ok(()),
            _ => Err(app.script_error("release lock", &out)),
        }
    }

    /// Closes the script's input and waits for it to end, reading what it
    /// still prints.
    async fn finish(self) -> Result<Output, HostError> {
        let HeldLock { app, input, mut output, task, .. } = self;
        drop(input);
        let mut rest = Vec::new();
        let (_, ended) = tokio::join!(output.read_to_end(&mut rest), task);
        let mut out = ended.map_err(|e| lost(&app, &e.to_string()))??;
        out.stdout = rest;
        Ok(out)
    }
}

/// The session ended in a way that tells nothing of what the script did.
fn lost(app: &HostApp, why: &str) -> HostError {
    HostError::Transport(TransportError { host: app.host().into(), message: format!("connection lost: {why}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, Holder};
    use haul_transport::{Local, Transport};

    const R1: &str = "20260101T000000.000Z-111111111111";
    const R2: &str = "20260101T000001.000Z-222222222222";

    const SHELLS: [&[&str]; 3] = [&["dash"], &["busybox", "sh"], &["bash"]];

    /// An app with two complete releases, `current` at the first.
    fn app(root: &std::path::Path) -> std::path::PathBuf {
        let app = root.join("app");
        for r in [R1, R2] {
            std::fs::create_dir_all(app.join("releases").join(r)).unwrap();
            std::fs::write(app.join("releases").join(format!("{r}.manifest")), "").unwrap();
        }
        std::os::unix::fs::symlink(format!("releases/{R1}"), app.join("current")).unwrap();
        app
    }

    /// haul gone while the host still tells what is on it (killed, or the
    /// connection lost: its end of the answer closed while the script
    /// writes), or a Ctrl-C reaching the script (a local host's shell is
    /// in haul's process group): the script goes on to the end of its
    /// input and releases the lock, rather than dying with it held.
    #[test]
    fn a_reader_gone_mid_answer_or_an_interrupt_leaves_no_lock() {
        use std::io::Read;
        use std::process::{Command, Stdio};
        for shell in SHELLS {
            for interrupt in [false, true] {
                let tmp = tempfile::tempdir().unwrap();
                let app = app(tmp.path());
                // More history than a pipe holds: the script is still
                // writing it when its reader goes.
                std::fs::create_dir_all(app.join(".haul")).unwrap();
                std::fs::write(app.join(".haul/history"), format!("{}\n", "x".repeat(199)).repeat(10_000)).unwrap();
                let info = LockInfo::new(Holder::current(), "tester", "rollback".into());
                let line = serde_json::to_string(&info).unwrap();
                let mut child = Command::new(shell[0])
                    .args(&shell[1..])
                    .args(["-c", "--", scripts::LOCK_HOLD, "haul"])
                    .args([&app.display().to_string(), &line, "@held", &info.token])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut out = child.stdout.take().unwrap();
                let mut first = [0u8; 9];
                out.read_exact(&mut first).unwrap();
                let what = format!("{shell:?}, interrupted: {interrupt}");
                assert_eq!(&first, b"acquired\n", "{what}");
                if interrupt {
                    let pid = child.id().to_string();
                    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                drop(out);
                drop(child.stdin.take());
                child.wait().unwrap();
                assert!(!app.join(".haul/lock").exists(), "{what}: the lock is left held");
                assert_eq!(
                    std::fs::read_link(app.join("current")).unwrap().display().to_string(),
                    format!("releases/{R1}"),
                    "{what}"
                );
            }
        }
    }

    /// A kept lock (`keep`) on an app named by a path relative to the
    /// session's directory: a session lost without a word leaves the lock,
    /// as it does for an absolute path. Making the path absolute once
    /// dropped the fifth argument, and the lock was released behind a run
    /// still working under it.
    #[test]
    fn a_kept_lock_given_a_relative_dir_stays_when_its_session_is_lost() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        for shell in SHELLS {
            let tmp = tempfile::tempdir().unwrap();
            let app = app(tmp.path());
            let info = LockInfo::new(Holder::current(), "tester", "deploy".into());
            let line = serde_json::to_string(&info).unwrap();
            let mut child = Command::new(shell[0])
                .args(&shell[1..])
                .args(["-c", "--", scripts::LOCK_HOLD, "haul"])
                .args(["app", &line, "@held", &info.token, "keep"])
                .current_dir(tmp.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let out = std::io::BufReader::new(child.stdout.take().unwrap());
            let said: Vec<String> = out.lines().map(Result::unwrap).take_while(|l| l != "@held").collect();
            assert_eq!(said.first().map(String::as_str), Some("acquired"), "{shell:?}: {said:?}");
            drop(child.stdin.take());
            child.wait().unwrap();
            let lock = std::fs::read_to_string(app.join(".haul/lock"));
            assert!(lock.is_ok_and(|l| l.contains(&info.token)), "{shell:?}: the kept lock was released");
        }
    }

    /// Whatever reaches the held script other than a whole `switch`
    /// command (a word cut short, a command missing its last newline, an
    /// unknown word) releases the lock and changes nothing.
    #[test]
    fn a_command_cut_short_or_unknown_releases_the_lock_and_changes_nothing() {
        let event = Event::now(EventKind::Rollback, "tester").to_line();
        let sent = [
            "swi".to_string(),
            "switch".to_string(),
            format!("switch\n{R2}"),
            format!("switch\n{R2}\n{event}"),
            format!("Switch\n{R2}\n{event}\n"),
            "\n".to_string(),
        ];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for shell in SHELLS {
            for bytes in &sent {
                let tmp = tempfile::tempdir().unwrap();
                let app = app(tmp.path());
                let transport = Transport::Local(Local::new("h").with_shell(shell.iter().copied()));
                let h = HostApp::new(transport, app.display().to_string());
                let info = LockInfo::new(Holder::current(), "tester", "rollback".into());
                let out = rt.block_on(async {
                    let (_, held) = h.lock_hold(&info).await.unwrap();
                    let (_, mut held) = held.expect("held");
                    held.input.write_all(bytes.as_bytes()).await.unwrap();
                    held.finish().await.unwrap()
                });
                let what = format!("{shell:?} after {bytes:?}");
                assert_eq!(out.code, Some(0), "{what}: {}", out.combined());
                assert!(!app.join(".haul/lock").exists(), "{what}: released");
                assert_eq!(
                    std::fs::read_link(app.join("current")).unwrap().display().to_string(),
                    format!("releases/{R1}"),
                    "{what}"
                );
                assert!(!app.join(".haul/history").exists(), "{what}: nothing recorded");
            }
        }
    }
}

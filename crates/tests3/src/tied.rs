//! A server process tied to the test that started it: it runs under a
//! small `sh` that keeps the read end of a pipe whose write end only the
//! test holds. When the test drops the server, or dies in any way (a
//! panic, a timeout's SIGKILL), the pipe closes and the `sh` kills the
//! server it started, and only it. No server outlives its test.

use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

/// The guard: fd 3 is the pipe; the server runs with no stdin; the reader
/// kills it at end of file; the `sh` exits when the server does.
const GUARD: &str = r#"exec 3<&0
"$0" "$@" </dev/null >/dev/null 2>&1 &
pid=$!
{ read -r _ <&3; kill "$pid" 2>/dev/null; } &
wait "$pid"
"#;

/// Exit status `sh` gives a command it cannot find or run.
const NOT_FOUND: [i32; 2] = [126, 127];

pub(crate) struct Tied {
    guard: Child,
    pipe: Option<ChildStdin>,
}

impl Tied {
    pub(crate) fn spawn(program: &str, args: &[&str]) -> std::io::Result<Tied> {
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pipe = guard.stdin.take();
        Ok(Tied { guard, pipe })
    }

    /// Whether the server has exited, and how.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.guard.try_wait().ok().flatten()
    }

    /// Whether an exit status says the program could not be run at all.
    pub(crate) fn not_found(status: ExitStatus) -> bool {
        status.code().is_some_and(|c| NOT_FOUND.contains(&c))
    }
}

impl Drop for Tied {
    fn drop(&mut self) {
        // Closing the pipe makes the guard kill the server; then the
        // guard's `wait` returns and it exits.
        drop(self.pipe.take());
        let _ = self.guard.wait();
    }
}

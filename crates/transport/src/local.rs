//! The local transport: a directory on this machine stands in for a host.
//!
//! Scripts run in `sh -c` exactly as they would over SSH, so everything
//! proven on a local host holds for the on-host logic of a real one. Which
//! `sh` is a choice ([`Local::with_shell`]): hosts run dash, BusyBox `sh` and
//! bash, and the host layer's tests run every script under each.

use crate::{Input, LineSink, Output, TransportError};
use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Local {
    host: String,
    /// Variables of this process that scripts must not see (secrets a
    /// server host would never have).
    hidden: Arc<[String]>,
    /// The shell's program and its leading arguments (`["busybox", "sh"]`).
    shell: Arc<[String]>,
}

impl Local {
    /// A host whose scripts run under the `sh` found on `PATH`.
    pub fn new(host: impl Into<String>) -> Self {
        Local { host: host.into(), hidden: Arc::new([]), shell: Arc::new(["sh".to_string()]) }
    }

    /// Runs every script without the variables `names` of this process's
    /// environment, as a host reached over SSH never has them.
    pub fn without_env(mut self, names: Vec<String>) -> Self {
        self.hidden = names.into();
        self
    }

    /// Runs every script under `shell` (a program, then the arguments it
    /// needs before `-c`: `["dash"]`, `["busybox", "sh"]`) instead of `sh`.
    pub fn with_shell<S: Into<String>>(mut self, shell: impl IntoIterator<Item = S>) -> Self {
        let shell: Vec<String> = shell.into_iter().map(Into::into).collect();
        assert!(!shell.is_empty(), "a shell names a program");
        self.shell = shell.into();
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) async fn exec<A: AsRef<OsStr>>(
        &self,
        script: &str,
        args: &[A],
        input: Input,
        to: Option<crate::Writer>,
        sink: Option<LineSink>,
    ) -> Result<Output, TransportError> {
        let fail = |e: std::io::Error| TransportError { host: self.host.clone(), message: e.to_string() };
        // Refused as SSH refuses them, though nothing here is quoted: every
        // value is an argv entry of its own.
        let args = crate::words::checked(script, args)
            .map_err(|e| TransportError { host: self.host.clone(), message: e.to_string() })?;
        let mut command = tokio::process::Command::new(&self.shell[0]);
        for name in self.hidden.iter() {
            command.env_remove(name);
        }
        let mut child = command
            .args(&self.shell[1..])
            .args(["-c", "--", script, crate::words::NAME])
            .args(args)
            .current_dir("/")
            .stdin(match input {
                Input::None => Stdio::null(),
                _ => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(fail)?;
        let (fed, out, err) =
            crate::drive_io(child.stdin.take(), child.stdout.take(), child.stderr.take(), input, to, sink).await;
        let status = child.wait().await.map_err(fail)?;
        crate::finish(fed, out, err, status.code()).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use crate::words::tests::HOSTILE;
    use crate::{Input, Local, Transport};

    fn run(shell: &[&str], args: &[std::ffi::OsString]) -> Result<crate::Output, crate::TransportError> {
        let t = Transport::Local(Local::new("h").with_shell(shell.iter().copied()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(t.exec_args("printf '%s\\0' \"$0\" \"$@\"", args, Input::None, None))
    }

    fn hostile_arguments_arrive_as_given_under(shell: &[&str]) {
        let args: Vec<std::ffi::OsString> = HOSTILE.iter().map(Into::into).collect();
        let out = run(shell, &args).unwrap();
        assert!(out.success(), "{shell:?}: {}", out.combined());
        let text = String::from_utf8(out.stdout).unwrap();
        let mut got: Vec<&str> = text.split('\0').collect();
        got.pop();
        assert_eq!(got[0], "haul");
        assert_eq!(&got[1..], HOSTILE, "{shell:?}");
        // What SSH refuses is refused here too, naming the host.
        use std::os::unix::ffi::OsStringExt;
        let e = run(shell, &[std::ffi::OsString::from_vec(vec![0xff])]).unwrap_err();
        assert!(e.to_string().starts_with("h: argument 1 of the script is not UTF-8"), "{e}");
    }

    #[test]
    fn hostile_arguments_arrive_as_given_under_dash() {
        hostile_arguments_arrive_as_given_under(&["dash"]);
    }

    #[test]
    fn hostile_arguments_arrive_as_given_under_busybox_sh() {
        hostile_arguments_arrive_as_given_under(&["busybox", "sh"]);
    }

    #[test]
    fn hostile_arguments_arrive_as_given_under_bash() {
        hostile_arguments_arrive_as_given_under(&["bash"]);
    }
}

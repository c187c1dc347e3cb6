//! The local transport: a directory on this machine stands in for a host.
//!
//! Scripts run in `sh -c` exactly as they would over SSH, so everything
//! proven on a local host holds for the on-host logic of a real one.

use crate::{Input, LineSink, Output, TransportError};
use std::process::Stdio;

#[derive(Debug, Clone)]
pub struct Local {
    host: String,
    /// Variables of this process that scripts must not see (secrets a
    /// server host would never have).
    hidden: std::sync::Arc<[String]>,
}

impl Local {
    pub fn new(host: impl Into<String>) -> Self {
        Local { host: host.into(), hidden: std::sync::Arc::new([]) }
    }

    /// Runs every script without the variables `names` of this process's
    /// environment, as a host reached over SSH never has them.
    pub fn without_env(mut self, names: Vec<String>) -> Self {
        self.hidden = names.into();
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) async fn exec(
        &self,
        script: &str,
        input: Input,
        sink: Option<LineSink>,
    ) -> Result<Output, TransportError> {
        let fail = |e: std::io::Error| TransportError { host: self.host.clone(), message: e.to_string() };
        let mut command = tokio::process::Command::new("sh");
        for name in self.hidden.iter() {
            command.env_remove(name);
        }
        let mut child = command
            .arg("-c")
            .arg(script)
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
            crate::drive_io(child.stdin.take(), child.stdout.take(), child.stderr.take(), input, sink).await;
        let status = child.wait().await.map_err(fail)?;
        crate::finish(fed, out, err, status.code()).map_err(fail)
    }
}

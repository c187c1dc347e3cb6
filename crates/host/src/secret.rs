//! Writing a secret file under `shared/`: the value goes on the script's
//! standard input, never in its arguments or its text, so it appears in no
//! process list, shell history or log on either end; the script
//! (`scripts/secret.sh`) makes the file atomically, 0600 before its first
//! byte, and never through a link.

use crate::{HostApp, HostError, scripts};
use haul_transport::Input;

/// How a secret file is to be written: where under `shared/`, its mode and
/// its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile<'a> {
    /// A relative path under `shared/` (the config crate checked it).
    pub path: &'a str,
    pub mode: u32,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

impl HostApp {
    /// Writes `value` to `shared/<path>`, replacing what was there by one
    /// rename, for the run whose lock token is `token`: only while it
    /// holds the app's lock on this host, judged again under the lock's
    /// guard at the rename (otherwise nothing is written and the error
    /// says so, [`HostError::lock_not_held`]). An error names the host and
    /// the file, never the value (the script does not print it).
    pub async fn write_secret(&self, file: &SecretFile<'_>, value: Vec<u8>, token: &str) -> Result<(), HostError> {
        let size = value.len();
        self.write_secret_from(file, size, Input::Bytes(value), token).await
    }

    /// [`write_secret`](Self::write_secret) with the value coming from
    /// `input`, which must give `size` bytes: the file is left as it was
    /// unless all of them arrive.
    pub async fn write_secret_from(
        &self,
        file: &SecretFile<'_>,
        size: usize,
        input: Input,
        token: &str,
    ) -> Result<(), HostError> {
        let owner = match (file.owner, file.group) {
            (Some(o), Some(g)) => format!("{o}:{g}"),
            (Some(o), None) => o.to_string(),
            (None, Some(g)) => format!(":{g}"),
            (None, None) => String::new(),
        };
        let (mode, size) = (format!("{:04o}", file.mode), size.to_string());
        let args: [&str; 6] = [self.dir(), file.path, &mode, &owner, &size, token];
        let what = format!("writing secret file shared/{}", file.path.escape_debug());
        self.run_ok(&what, scripts::SECRET, &args, input).await?;
        Ok(())
    }
}

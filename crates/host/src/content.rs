//! What `haul content sync` does to a host for a `files` set: list the
//! set's directories under `shared/`, pack the files another host lacks,
//! stage a copy beside the live directories (hard links, then the changed
//! files unpacked over it; each sync its own copy, named after its lock
//! token), and switch it in. The scripts are
//! `content-*.sh`; the chain that joins a pack on one host to a stage on
//! another is `haul-content`'s.

use crate::{HostApp, HostError, scripts};
use haul_transport::Input;

/// One file of a content directory, as `content-list.sh` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFile {
    /// `./dir/path` under `shared/`.
    pub path: String,
    pub crc: u32,
    pub size: u64,
}

impl HostApp {
    /// The files of `dirs` (under `shared/`); a missing directory has none.
    pub async fn content_list(&self, dirs: &[String]) -> Result<Vec<ContentFile>, HostError> {
        let mut args = vec![self.dir.as_str()];
        args.extend(dirs.iter().map(String::as_str));
        let out = self.run_ok("list content", scripts::CONTENT_LIST, &args, Input::None).await?;
        let text = String::from_utf8(out.stdout).map_err(|_| self.invalid("a content file name is not UTF-8"))?;
        text.lines()
            .map(|l| parse_line(l).ok_or_else(|| self.invalid(&format!("unreadable list line {l:?}"))))
            .collect()
    }

    /// The script, arguments and stdin that write a tar of `files`
    /// (`./dir/path`) to stdout, for a chain. The names go on stdin, so a
    /// list of any length fits; the output may be several tars one after
    /// another (`haul-content`'s gate reads them as one).
    pub fn content_pack(&self, files: &[String]) -> (String, Vec<String>, Input) {
        (scripts::CONTENT_PACK.to_string(), vec![self.dir.clone()], Input::Bytes(nul_list(files)))
    }

    /// Stages set `set` for the sync whose lock token is `token`, in a
    /// copy of its own: `dirs` copied as hard links beside the live ones,
    /// then `drop` (`./dir/path`, given on stdin) unlinked from the copy.
    /// Only while `token` holds the app's lock (otherwise nothing is
    /// staged and the error says so, [`HostError::lock_not_held`]); the
    /// copies of other syncs are removed, and a directory a stopped switch
    /// left absent is put back first.
    pub async fn content_stage(
        &self,
        set: &str,
        token: &str,
        dirs: &[String],
        drop: &[String],
    ) -> Result<(), HostError> {
        let (n, copy) = (dirs.len().to_string(), crate::run_name(token));
        let mut args = vec![self.dir.as_str(), set, copy.as_str(), token, n.as_str()];
        args.extend(dirs.iter().map(String::as_str));
        let input = Input::Bytes(nul_list(drop));
        self.run_ok(&format!("stage content set {set}"), scripts::CONTENT_STAGE, &args, input).await?;
        Ok(())
    }

    /// The script and arguments that unpack a tar from stdin over the
    /// copy of `set` staged for `token`, for a chain.
    pub fn content_unpack(&self, set: &str, token: &str) -> (String, Vec<String>) {
        (scripts::CONTENT_UNPACK.to_string(), vec![self.dir.clone(), set.to_string(), crate::run_name(token)])
    }

    /// Switches the `dirs` of `set` staged for `token` in, only while it holds
    /// the app's lock (judged under the lock's guard, as a switch of
    /// `current` is): otherwise nothing moves and the error says so
    /// ([`HostError::lock_not_held`]). A failure after some of `dirs` were
    /// switched says so ([`HostError::content_partly_switched`]).
    pub async fn content_switch(&self, set: &str, dirs: &[String], token: &str) -> Result<(), HostError> {
        let copy = crate::run_name(token);
        let mut args = vec![self.dir.as_str(), set, copy.as_str(), token];
        args.extend(dirs.iter().map(String::as_str));
        self.run_ok(&format!("switch content set {set}"), scripts::CONTENT_SWITCH, &args, Input::None).await?;
        Ok(())
    }

    fn invalid(&self, message: &str) -> HostError {
        HostError::Invalid { host: self.host().to_string(), message: message.to_string() }
    }
}

/// The exit of `content-switch.sh` when it failed after some of the set's
/// directories were switched.
const CONTENT_PARTLY_SWITCHED: i32 = 11;

/// The exits with which `content-switch.sh` refuses before its first
/// rename (no app directory, not staged or a link, a failure before any
/// directory moved, the lock no longer the sync's, the guard held by
/// another for a minute).
const CONTENT_SWITCH_REFUSED: [i32; 6] = [3, 4, 5, 6, crate::LOCK_NOT_HELD, crate::GUARD_BUSY];

impl HostError {
    /// Whether a content switch failed after it had switched some of the
    /// set's directories on the host: that host is partly switched.
    pub fn content_partly_switched(&self) -> bool {
        matches!(self, HostError::Script { code: Some(CONTENT_PARTLY_SWITCHED), .. })
    }

    /// Whether a failed content switch may have switched some or all of
    /// the set's directories: partly switched, or the connection was lost
    /// or the script ended in a way it does not name (the switch ignores a
    /// hang-up, so it may have gone on and finished).
    pub fn content_may_have_switched(&self) -> bool {
        match self {
            HostError::Script { code: Some(c), .. } => !CONTENT_SWITCH_REFUSED.contains(c),
            HostError::Script { code: None, .. } | HostError::Transport(_) => true,
            HostError::MissingTool { .. } | HostError::Invalid { .. } | HostError::Release { .. } => false,
        }
    }
}

/// Whether `p` is a content file's name as haul takes it from a host:
/// `./` and then plain names (none empty, `.` or `..`). Every name a host
/// lists, and every name the gate lets through, is one.
pub fn is_content_path(p: &str) -> bool {
    p.strip_prefix("./").is_some_and(|rest| rest.split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Names for `xargs -0`, each ended by a NUL.
fn nul_list(names: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum());
    for n in names {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
    }
    out
}

/// `CRC SIZE ./path` (the path may hold spaces).
fn parse_line(l: &str) -> Option<ContentFile> {
    let (crc, rest) = l.split_once(' ')?;
    let (size, path) = rest.split_once(' ')?;
    if !is_content_path(path) {
        return None;
    }
    Some(ContentFile { path: path.to_string(), crc: crc.parse().ok()?, size: size.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: Option<i32>) -> HostError {
        HostError::Script { host: "h".into(), what: "switch content set up".into(), code, output: String::new() }
    }

    #[test]
    fn a_content_switch_that_ended_unnamed_may_have_switched() {
        for refused in [3, 4, 5, 6, 9, 10] {
            assert!(!exit(Some(refused)).content_may_have_switched(), "{refused}");
        }
        for unnamed in [Some(11), Some(255), Some(1), None] {
            assert!(exit(unnamed).content_may_have_switched(), "{unnamed:?}");
        }
        assert!(exit(Some(11)).content_partly_switched() && !exit(Some(255)).content_partly_switched());
    }
}

//! What `haul content sync` does to a host for a `files` set: list the
//! set's directories under `shared/`, pack the files another host lacks,
//! stage a copy beside the live directories (hard links, then the changed
//! files unpacked over it), and switch it in. The scripts are
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

    /// The script and arguments that write a tar of `files` (`./dir/path`)
    /// to stdout, for a chain.
    pub fn content_pack(&self, files: &[String]) -> (String, Vec<String>) {
        let mut args = vec![self.dir.clone()];
        args.extend(files.iter().cloned());
        (scripts::CONTENT_PACK.to_string(), args)
    }

    /// The script and arguments that stage set `set`: `dirs` copied,
    /// `drop` unlinked from the copy, then a tar from stdin unpacked when
    /// `tar` (else it reads nothing).
    pub fn content_stage(&self, set: &str, dirs: &[String], drop: &[String], tar: bool) -> (String, Vec<String>) {
        let mut args = vec![
            self.dir.clone(),
            set.to_string(),
            if tar { "tar" } else { "none" }.to_string(),
            dirs.len().to_string(),
        ];
        args.extend(dirs.iter().cloned());
        args.extend(drop.iter().cloned());
        (scripts::CONTENT_STAGE.to_string(), args)
    }

    /// Switches the staged `dirs` of `set` in.
    pub async fn content_switch(&self, set: &str, dirs: &[String]) -> Result<(), HostError> {
        let mut args = vec![self.dir.as_str(), set];
        args.extend(dirs.iter().map(String::as_str));
        self.run_ok(&format!("switch content set {set}"), scripts::CONTENT_SWITCH, &args, Input::None).await?;
        Ok(())
    }

    fn invalid(&self, message: &str) -> HostError {
        HostError::Invalid { host: self.host().to_string(), message: message.to_string() }
    }
}

/// `CRC SIZE ./path` (the path may hold spaces).
fn parse_line(l: &str) -> Option<ContentFile> {
    let (crc, rest) = l.split_once(' ')?;
    let (size, path) = rest.split_once(' ')?;
    if !path.starts_with("./") {
        return None;
    }
    Some(ContentFile { path: path.to_string(), crc: crc.parse().ok()?, size: size.parse().ok()? })
}

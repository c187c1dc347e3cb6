//! The gate a `files` set's tar passes on the machine running haul, between
//! the source host's pack and the target host's unpack.
//!
//! The source host is another environment's machine: what it sends is not
//! trusted to be what was asked for. The gate reads the stream (several
//! archives one after another count as one: a long list is packed by more
//! than one `tar`), lets through only regular files whose names are among
//! those asked for, each once, with the permission bits only (no setuid,
//! setgid or sticky bit), and writes them as one fresh archive. A link, a
//! device, a directory entry, a `..` or absolute name, a name not asked for
//! or sent twice fails the sync, naming the entry, before the target is
//! switched; the unpack sees a cut-off stream and fails too.

use std::collections::BTreeSet;
use std::io::{Read, Write};

/// Copies the tar on `from` to `to`, letting through only regular files
/// named in `asked` (`./dir/path`). Returns how many files passed.
pub fn pass(asked: &[String], from: impl Read, to: impl Write) -> Result<usize, String> {
    let mut left: BTreeSet<&str> = asked.iter().map(|a| a.strip_prefix("./").unwrap_or(a)).collect();
    let mut archive = tar::Archive::new(from);
    archive.set_ignore_zeros(true);
    let mut out = tar::Builder::new(to);
    let mut passed = 0;
    for entry in archive.entries().map_err(|e| format!("the source's tar is unreadable: {e}"))? {
        let mut entry = entry.map_err(|e| format!("the source's tar is unreadable: {e}"))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(format!("the source sent {name:?}, which is not a regular file ({kind:?})"));
        }
        // GNU tar writes `./up/a` as given; others drop the `./`.
        let plain = if name.starts_with("./") { name.clone() } else { format!("./{name}") };
        if !crate::is_content_path(&plain) {
            return Err(format!("the source sent {name:?}, which is not a plain path under shared/"));
        }
        let key = &plain[2..];
        if !left.remove(key) {
            return Err(format!("the source sent {name:?}, which was not asked for (or was sent twice)"));
        }
        let mode = entry.header().mode().map_err(|e| format!("{name:?}: unreadable mode: {e}"))? & 0o777;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(entry.size());
        header.set_mode(mode);
        header.set_mtime(entry.header().mtime().unwrap_or(0));
        out.append_data(&mut header, format!("./{key}"), &mut entry)
            .map_err(|e| format!("{name:?} could not be passed on: {e}"))?;
        passed += 1;
    }
    if let Some(missing) = left.first() {
        return Err(format!("the source did not send \"./{missing}\""));
    }
    out.into_inner().and_then(|mut w| w.flush()).map_err(|e| format!("the stream to the target ended: {e}"))?;
    Ok(passed)
}

#[cfg(test)]
mod tests;

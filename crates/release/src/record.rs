//! The release record as text: a header line, then one line per manifest
//! entry in path order (each line JSON). Kept beside every release on its
//! hosts and in the cache.
//!
//! Being line-oriented is what lets an incremental stage send only a patch
//! of the record (runs of lines to keep, skip or insert against the base
//! release's record) that a host applies with POSIX `awk` and checks with
//! POSIX `cksum` (or, where there is none, as on BusyBox, `sha256sum`), so a
//! one-file change costs bytes, not the whole manifest.

use crate::cache::Release;
use crate::manifest::{Entry, Manifest};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The header line: the release without its entries.
#[derive(Serialize, Deserialize)]
struct Header {
    app: String,
    id: String,
    digest: String,
    created: String,
    built_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    entries: usize,
}

impl Release {
    fn header_line(&self) -> String {
        let h = Header {
            app: self.app.clone(),
            id: self.id.clone(),
            digest: self.digest.clone(),
            created: self.created.clone(),
            built_by: self.built_by.clone(),
            revision: self.revision.clone(),
            entries: self.manifest.entries.len(),
        };
        serde_json::to_string(&h).expect("header serializes")
    }

    /// The record as text.
    pub fn to_lines(&self) -> String {
        let mut s = self.header_line();
        s.push('\n');
        for e in &self.manifest.entries {
            s.push_str(&entry_line(e));
            s.push('\n');
        }
        s
    }

    /// Reads a record written by [`Release::to_lines`].
    pub fn from_lines(text: &str) -> Result<Release, String> {
        let mut lines = text.lines();
        let h: Header =
            serde_json::from_str(lines.next().ok_or("the record is empty")?).map_err(|e| format!("bad header: {e}"))?;
        let entries = lines
            .map(|l| serde_json::from_str::<Entry>(l).map_err(|e| format!("bad entry `{l}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if entries.len() != h.entries {
            return Err(format!("the record lists {} entries, its header says {}", entries.len(), h.entries));
        }
        let manifest = Manifest { entries };
        if manifest.digest() != h.digest {
            return Err("the entries do not match the release's digest".into());
        }
        Ok(Release {
            app: h.app,
            id: h.id,
            digest: h.digest,
            created: h.created,
            built_by: h.built_by,
            revision: h.revision,
            manifest,
        })
    }

    /// A patch that turns `base`'s record into this one: `h <header>`, then
    /// `k N` (keep N lines of the base), `s N` (skip N), `i <line>` (insert).
    pub fn record_patch(&self, base: &Release) -> String {
        let mut out = format!("h {}\n", self.header_line());
        let (old, new) = (&base.manifest.entries, &self.manifest.entries);
        let (mut i, mut j) = (0, 0);
        let mut run: Option<(char, usize)> = None;
        let flush = |run: &mut Option<(char, usize)>, out: &mut String| {
            if let Some((op, n)) = run.take() {
                let _ = writeln!(out, "{op} {n}");
            }
        };
        let count = |op: char, run: &mut Option<(char, usize)>, out: &mut String| match run {
            Some((o, n)) if *o == op => *n += 1,
            _ => {
                flush(run, out);
                *run = Some((op, 1));
            }
        };
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) if o.path == n.path => {
                    if o == n {
                        count('k', &mut run, &mut out);
                    } else {
                        count('s', &mut run, &mut out);
                        flush(&mut run, &mut out);
                        let _ = writeln!(out, "i {}", entry_line(n));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(n)) if o.path < n.path => {
                    count('s', &mut run, &mut out);
                    i += 1;
                }
                (Some(_), None) => {
                    count('s', &mut run, &mut out);
                    i += 1;
                }
                (_, Some(n)) => {
                    flush(&mut run, &mut out);
                    let _ = writeln!(out, "i {}", entry_line(n));
                    j += 1;
                }
                (None, None) => unreachable!(),
            }
        }
        flush(&mut run, &mut out);
        out
    }
}

fn entry_line(e: &Entry) -> String {
    serde_json::to_string(e).expect("entry serializes")
}

/// What POSIX `cksum` prints for `data` read from standard input:
/// `"<crc> <length>"`.
pub fn cksum(data: &[u8]) -> String {
    const CKSUM: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_CKSUM);
    let mut d = CKSUM.digest();
    d.update(data);
    let mut n = data.len();
    while n > 0 {
        d.update(&[(n & 0xff) as u8]);
        n >>= 8;
    }
    format!("{} {}", d.finalize(), data.len())
}

/// What `sha256sum` prints for `data` read from standard input, up to the
/// first space: the digest in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{cksum, sha256_hex};

    #[test]
    fn sha256_hex_matches_sha256sum() {
        let out =
            std::process::Command::new("sh").args(["-c", "printf 'hello world\\n' | sha256sum"]).output().unwrap();
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(printed.split(' ').next().unwrap(), sha256_hex(b"hello world\n"));
    }

    #[test]
    fn cksum_matches_posix_cksum() {
        for data in [&b""[..], b"a", b"hello world\n", &[0u8; 1000]] {
            let out = std::process::Command::new("cksum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(data)?;
                    c.wait_with_output()
                })
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), cksum(data));
        }
    }
}

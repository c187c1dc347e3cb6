//! One careful reading of a tar stream's members, shared by the verifier
//! and the importer, so both see the same names.
//!
//! The `tar` crate's own entry iterator reads GNU long names and PAX records
//! whole into memory and quietly prefers one over the other when both are
//! there. Here the raw iterator is used instead: extension records are
//! bounded, may not repeat, must be followed by a member, and the name, link
//! target and size they give must agree with each other and with the header
//! (a parser disagreement is how an archive shows one tree to a checker and
//! another to an unpacker). After the last member the rest of the stream is
//! read to its end, so a truncated or corrupt compressed stream is noticed
//! even when its damage is past the last entry.

use crate::ArchiveRefusal as R;
use crate::ReleaseError;
use std::io::{self, Read};
use std::path::Path;

/// The longest GNU long name or link target accepted (Linux's `PATH_MAX`).
const MAX_LONG_NAME: u64 = 4096;
/// The largest PAX record block accepted.
const MAX_PAX: u64 = 1 << 20;
/// How many zero bytes may follow the end-of-archive block (`tar` pads to
/// records of 10 KiB; some tools to more).
const MAX_TRAILING: u64 = 1 << 20;

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Is {
    File,
    Dir,
    Symlink(String),
    /// A hard link to the earlier member named (cleaned like any name);
    /// only when not strict.
    HardLink(String),
}

/// A member of the archive, its name cleaned (no leading `./`, no trailing
/// `/`), ready to be judged.
#[derive(Debug)]
pub(crate) struct Member {
    pub name: String,
    pub is: Is,
    /// The header's mode field, as written.
    pub mode: u32,
    pub size: u64,
}

/// How strict the reading is. haul's own archives (`strict`) never have PAX
/// records, `./` prefixes or a root entry, and a GNU long name's header
/// carries the start of the same name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub strict: bool,
}

pub(crate) fn refused(archive: &Path, refusal: R) -> ReleaseError {
    ReleaseError::Archive { path: archive.to_path_buf(), refusal }
}

/// Reads every member of the tar stream `reader` and hands it to `each`
/// with its entry (positioned at its contents). A member naming the root
/// itself (`./`) is skipped when not strict.
pub(crate) fn read_members<T: Read>(
    reader: T,
    archive: &Path,
    rules: Rules,
    mut each: impl FnMut(&Member, &mut dyn Read) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    let corrupt =
        |after: &Option<String>, source: io::Error| refused(archive, R::Corrupt { after: after.clone(), source });
    let mut ar = tar::Archive::new(Watch { inner: reader, ended: false });
    let mut last: Option<String> = None;
    {
        let mut entries = ar.entries().map_err(|e| corrupt(&last, e))?.raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Vec<u8>> = None;
        loop {
            let mut entry = match entries.next() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(corrupt(&last, e)),
            };
            let t = entry.header().entry_type();
            let ext = |what: String| refused(archive, R::Record { after: last.clone(), what });
            if t.is_gnu_longname() || t.is_gnu_longlink() {
                let slot = if t.is_gnu_longname() { &mut long_name } else { &mut long_link };
                if slot.is_some() {
                    return Err(ext("two GNU long-name records for one entry".into()));
                }
                let size = entry.size();
                if size > MAX_LONG_NAME + 1 {
                    return Err(ext(format!("a GNU long-name record of {size} bytes")));
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(|e| corrupt(&last, e))?;
                if bytes.last() == Some(&0) {
                    bytes.pop();
                }
                *slot = Some(bytes);
                continue;
            }
            if t.is_pax_local_extensions() || t.is_pax_global_extensions() {
                if rules.strict {
                    return Err(refused(archive, R::Pax { after: last.clone() }));
                }
                let size = entry.size();
                if size > MAX_PAX {
                    return Err(ext(format!("a PAX record block of {size} bytes")));
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(|e| corrupt(&last, e))?;
                for rec in tar::PaxExtensions::new(&bytes) {
                    rec.map_err(|e| ext(format!("a malformed PAX record: {e}")))?;
                }
                if t.is_pax_global_extensions() {
                    // Global records (git archive writes one with the commit)
                    // are ignored, unless they try to say where things go.
                    if let Some(key) = ["path", "linkpath", "size"].into_iter().find(|k| pax_value(&bytes, k).is_some())
                    {
                        return Err(ext(format!("a global PAX record setting `{key}`")));
                    }
                    continue;
                }
                if pax.is_some() {
                    return Err(ext("two PAX records for one entry".into()));
                }
                pax = Some(bytes);
                continue;
            }
            let pax = pax.take();
            let (long_name, long_link) = (long_name.take(), long_link.take());
            let member = member(&entry, rules, long_name, long_link, pax.as_deref())
                .map_err(|r| refused(archive, r))?
                .map_err(|e| corrupt(&last, e))?;
            let Some(member) = member else { continue };
            each(&member, &mut entry)?;
            last = Some(member.name);
        }
        if long_name.is_some() || long_link.is_some() || pax.is_some() {
            return Err(refused(archive, R::Record { after: last.clone(), what: "no entry follows it".into() }));
        }
    }
    // The tar crate stops at the end of the stream as at a zero block; only
    // the zero block is the end of an archive.
    let rest = ar.into_inner();
    if rest.ended {
        let source = io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ends without an end-of-archive block");
        return Err(corrupt(&last, source));
    }
    // Read the rest: only zeros may follow, and reading to the end makes the
    // decompressor check the stream is whole.
    let mut rest = rest.take(MAX_TRAILING + 1);
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        let n = rest.read(&mut buf).map_err(|e| corrupt(&last, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(refused(archive, R::Trailing { what: "data".into() }));
        }
        if total > MAX_TRAILING {
            return Err(refused(archive, R::Trailing { what: format!("more than {MAX_TRAILING} bytes of zeros") }));
        }
    }
    Ok(())
}

/// A reader that remembers whether it reached its end.
struct Watch<T> {
    inner: T,
    ended: bool,
}

impl<T: Read> Read for Watch<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        Ok(n)
    }
}

fn pax_value<'a>(pax: &'a [u8], key: &str) -> Option<&'a [u8]> {
    tar::PaxExtensions::new(pax)
        .filter_map(Result::ok)
        .find(|r| r.key_bytes() == key.as_bytes())
        .map(|r| r.value_bytes())
}

/// One of two sources of a name (or target), refusing when both are given
/// and differ.
fn agree(name: &str, what: &str, long: Option<Vec<u8>>, pax: Option<&[u8]>) -> Result<Option<Vec<u8>>, R> {
    match (long, pax) {
        (Some(l), Some(p)) if l != p => {
            Err(R::Extension { name: name.to_string(), what: format!("its GNU long {what} and its PAX {what} differ") })
        }
        (Some(l), _) => Ok(Some(l)),
        (None, Some(p)) => Ok(Some(p.to_vec())),
        (None, None) => Ok(None),
    }
}

type Judged = Result<Result<Option<Member>, io::Error>, R>;

fn member<T: Read>(
    entry: &tar::Entry<'_, Watch<T>>,
    rules: Rules,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<&[u8]>,
) -> Judged {
    let h = entry.header();
    let header_name = h.path_bytes().into_owned();
    let lossy = String::from_utf8_lossy(&header_name).into_owned();
    let from_long = long_name.is_some();
    let raw = agree(&lossy, "name", long_name, pax.and_then(|p| pax_value(p, "path")))?.unwrap_or(header_name.clone());
    let shown = String::from_utf8_lossy(&raw).into_owned();
    if rules.strict && from_long && (header_name.is_empty() || !raw.starts_with(&header_name)) {
        return Err(R::Extension { name: shown, what: format!("its header names `{}` instead", lossy.escape_debug()) });
    }
    let size = match h.entry_size() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(p) = pax.and_then(|p| pax_value(p, "size"))
        && std::str::from_utf8(p).ok().and_then(|s| s.parse::<u64>().ok()) != Some(size)
    {
        return Err(R::Extension { name: shown, what: "its PAX size and its header's size differ".into() });
    }
    let mode = match h.mode() {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let name = String::from_utf8(raw).map_err(|_| R::NotUtf8 { name: shown.escape_debug().to_string() })?;
    let t = h.entry_type();
    let is_dir = t.is_dir();
    let Some(clean) = clean_name(&name, is_dir, rules.strict) else {
        return Err(R::BadName { name });
    };
    if clean.is_empty() {
        // The root itself (`./`): nothing to make.
        return if is_dir && !rules.strict { Ok(Ok(None)) } else { Err(R::BadName { name }) };
    }
    let special = |kind: &str| Err(R::Special { name: clean.clone(), kind: kind.to_string() });
    let pax_link = pax.and_then(|p| pax_value(p, "linkpath"));
    if !(t.is_symlink() || t.is_hard_link()) && (long_link.is_some() || pax_link.is_some()) {
        return Err(R::Extension {
            name: clean,
            what: "a link target is recorded for it, but it is not a link".into(),
        });
    }
    let target = agree(&clean, "link target", long_link, pax_link)?
        .unwrap_or_else(|| h.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default());
    let is = if t.is_file() {
        Is::File
    } else if is_dir {
        Is::Dir
    } else if t.is_symlink() {
        let target = String::from_utf8(target).map_err(|_| R::BadLink { name: clean.clone() })?;
        if target.is_empty() || target.contains('\0') {
            return Err(R::BadLink { name: clean });
        }
        Is::Symlink(target)
    } else if t.is_hard_link() && !rules.strict {
        let target =
            String::from_utf8(target).ok().and_then(|t| clean_name(&t, false, false)).filter(|t| !t.is_empty());
        Is::HardLink(target.ok_or_else(|| R::BadLink { name: clean.clone() })?)
    } else if t.is_hard_link() {
        return special("hard link");
    } else if t.is_character_special() || t.is_block_special() {
        return special("device file");
    } else if t.is_fifo() {
        return special("FIFO");
    } else if t.is_gnu_sparse() {
        return special("sparse file");
    } else if t.is_contiguous() {
        return special("contiguous file");
    } else {
        return special(&format!("entry of type {:?}", t.as_byte() as char));
    };
    if is != Is::File && size != 0 {
        return Err(R::SizeMismatch { name: clean, want: 0, got: size });
    }
    Ok(Ok(Some(Member { name: clean, is, mode, size })))
}

/// The name without `./` in front (unless strict) and the `/` a directory
/// may end with; `None` when it is not a clean relative path. `""` is the
/// root.
fn clean_name(name: &str, is_dir: bool, strict: bool) -> Option<String> {
    let mut n = name;
    if !strict {
        while let Some(rest) = n.strip_prefix("./") {
            n = rest;
        }
        if n == "." {
            n = "";
        }
    }
    if is_dir && let Some(rest) = n.strip_suffix('/') {
        n = rest;
    }
    if n.is_empty() {
        return (!name.is_empty() && !strict).then(String::new);
    }
    crate::manifest::clean_relative(n).then(|| n.to_string())
}

//! Building archives by hand for the verifier's and the importer's tests:
//! a tree like the ones people deploy, raw tar headers whose names, types
//! and modes are set byte for byte (bypassing the `tar` crate's checks, as
//! an attacker's tool would), and the three wrappings (plain, gzip, zstd).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// An FTL-style tree: `src/` with nested directories, an executable, an
/// empty directory, a symlink inside and a name longer than a tar header
/// holds (with a long link target too).
pub fn site(root: &Path) {
    let long = "d".repeat(60);
    std::fs::create_dir_all(root.join("src/css")).unwrap();
    std::fs::create_dir_all(root.join("src/js/app")).unwrap();
    std::fs::create_dir_all(root.join("src/empty")).unwrap();
    std::fs::create_dir_all(root.join(format!("src/{long}/{long}"))).unwrap();
    std::fs::write(root.join("src/index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(root.join("src/css/site.css"), "body { color: red }\n".repeat(100)).unwrap();
    std::fs::write(root.join("src/js/app/main.js"), "console.log(1)\n").unwrap();
    std::fs::write(root.join(format!("src/{long}/{long}/deep.txt")), "deep").unwrap();
    std::fs::write(root.join("src/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(root.join("src/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("css/site.css", root.join("src/style.css")).unwrap();
    symlink(format!("{long}/{long}/deep.txt"), root.join("src/deep-link")).unwrap();
}

/// One raw member: its 512-byte header and its contents.
#[derive(Clone)]
pub struct Raw {
    pub header: tar::Header,
    pub data: Vec<u8>,
}

impl Raw {
    /// The name as the header's name field has it.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.header.path_bytes()).into_owned()
    }
}

/// A header with `name` written byte for byte, of `kind`, `mode`, `size`.
pub fn header(name: &[u8], kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    set_name(&mut h, name);
    h
}

/// Writes `name` into the header's name field as is and fixes the checksum.
pub fn set_name(h: &mut tar::Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
    h.set_cksum();
}

pub fn set_link(h: &mut tar::Header, target: &[u8]) {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..target.len()].copy_from_slice(target);
    h.set_cksum();
}

pub fn file(name: &str, mode: u32, data: &[u8]) -> Raw {
    Raw { header: header(name.as_bytes(), tar::EntryType::Regular, mode, data.len() as u64), data: data.to_vec() }
}

pub fn dir(name: &str, mode: u32) -> Raw {
    Raw { header: header(name.as_bytes(), tar::EntryType::Directory, mode, 0), data: vec![] }
}

pub fn link(name: &str, target: &str) -> Raw {
    let mut h = header(name.as_bytes(), tar::EntryType::Symlink, 0o777, 0);
    set_link(&mut h, target.as_bytes());
    Raw { header: h, data: vec![] }
}

pub fn of_kind(name: &str, kind: tar::EntryType, target: &str) -> Raw {
    let mut h = header(name.as_bytes(), kind, 0o644, 0);
    set_link(&mut h, target.as_bytes());
    Raw { header: h, data: vec![] }
}

/// A PAX record block (`x`, or `g` when `global`) with `records`.
pub fn pax(records: &[(&str, &[u8])], global: bool) -> Raw {
    let mut data = Vec::new();
    for (k, v) in records {
        // "<len> <key>=<value>\n", where len counts itself.
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len.to_string().len() + rest != len {
            len += 1;
        }
        data.extend_from_slice(format!("{len} {k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let kind = if global { tar::EntryType::XGlobalHeader } else { tar::EntryType::XHeader };
    Raw { header: header(b"PaxHeader", kind, 0o644, data.len() as u64), data }
}

/// A GNU long-name (`L`) or long-link (`K`) record.
pub fn gnu_long(name: &[u8], link: bool) -> Raw {
    let mut data = name.to_vec();
    data.push(0);
    let kind = if link { tar::EntryType::GNULongLink } else { tar::EntryType::GNULongName };
    Raw { header: header(b"././@LongLink", kind, 0o644, data.len() as u64), data }
}

/// The tar stream of `members`, ending with the two zero blocks.
pub fn tar(members: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        b.append(&m.header, m.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn zst(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 3).unwrap()
}

pub fn gz(tar: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

pub fn unzst(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::Decoder::new(bytes).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// Every raw member of a tar stream, extension records included.
pub fn members(tar: &[u8]) -> Vec<Raw> {
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap().raw(true) {
        let mut e = e.unwrap();
        let header = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Raw { header, data });
    }
    out
}

//! `verify_archive` against what `pack` wrote, and against every way an
//! archive can differ from its manifest: changed bytes of the same size, an
//! entry added, removed, repeated, re-moded, retargeted, renamed through
//! extension records; kinds haul never ships; truncated and corrupt
//! streams. Random byte flips never panic and are accepted only when the
//! contents are still the manifest's.

mod support;

use haul_release::{ArchiveRefusal, Manifest, ReleaseError, pack, verify_archive};
use proptest::prelude::*;
use support::*;
use tar::EntryType;

/// A packed site: its manifest and the tar stream inside the `.tar.zst`.
fn packed() -> (Manifest, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    site(tmp.path());
    let mut out = Vec::new();
    let manifest = pack(tmp.path(), &mut out).unwrap();
    (manifest, unzst(&out))
}

fn verify(bytes: &[u8], manifest: &Manifest) -> Result<(), ReleaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("r.tar.zst");
    std::fs::write(&path, bytes).unwrap();
    verify_archive(&path, manifest)
}

fn refusal(bytes: &[u8], manifest: &Manifest) -> ArchiveRefusal {
    match verify(bytes, manifest) {
        Err(ReleaseError::Archive { refusal, .. }) => refusal,
        Err(other) => panic!("not an archive refusal: {other}"),
        Ok(()) => panic!("accepted"),
    }
}

/// The members of the packed site with `edit` applied, as a `.tar.zst`.
fn edited(tar_bytes: &[u8], edit: impl FnOnce(&mut Vec<Raw>)) -> Vec<u8> {
    let mut m = members(tar_bytes);
    edit(&mut m);
    zst(&tar(&m))
}

fn position(m: &[Raw], name: &str) -> usize {
    m.iter().position(|r| r.name() == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn accepts_what_pack_wrote() {
    let (manifest, t) = packed();
    // The site has a name and a link target too long for a header.
    assert!(members(&t).iter().any(|r| r.header.entry_type().is_gnu_longname()));
    assert!(members(&t).iter().any(|r| r.header.entry_type().is_gnu_longlink()));
    verify(&zst(&t), &manifest).unwrap();
    // Re-encoded member by member it is still accepted (the edits below
    // are the only difference in the tests that follow).
    verify(&edited(&t, |_| {}), &manifest).unwrap();
}

#[test]
fn accepts_odd_names_as_pack_wrote_them() {
    let tmp = tempfile::tempdir().unwrap();
    haul_testfleet::hostile::odd_tree(tmp.path()).unwrap();
    let mut out = Vec::new();
    let manifest = pack(tmp.path(), &mut out).unwrap();
    verify(&out, &manifest).unwrap();
    // One odd name renamed to another odd name is not the same tree.
    let bytes = edited(&unzst(&out), |m| {
        let i = position(m, "-rf");
        set_name(&mut m[i].header, b"--rf");
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Unexpected { name } if name == "--rf"));
}

#[test]
fn refuses_changed_bytes_of_the_same_size() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        m[i].data = b"<h1>HI</h1>\n".to_vec();
    });
    assert!(
        matches!(refusal(&bytes, &manifest), ArchiveRefusal::ContentMismatch { name, .. } if name == "src/index.html")
    );
}

#[test]
fn refuses_an_extra_entry() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| m.push(file("src/extra.js", 0o644, b"evil()")));
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Unexpected { name } if name == "src/extra.js"));
}

#[test]
fn refuses_a_missing_entry() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/js/app/main.js");
        m.remove(i);
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Missing { name } if name == "src/js/app/main.js"));
    // An ancestor directory is an entry like any other.
    let bytes = edited(&t, |m| {
        let i = position(m, "src/js/app");
        m.remove(i);
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Missing { name } if name == "src/js/app"));
}

#[test]
fn refuses_a_mode_change() {
    let (manifest, t) = packed();
    for (name, mode) in [("src/run.sh", 0o4755), ("src/index.html", 0o755), ("src/css", 0o777)] {
        let bytes = edited(&t, |m| {
            let i = position(m, name);
            m[i].header.set_mode(mode);
            m[i].header.set_cksum();
        });
        let r = refusal(&bytes, &manifest);
        assert!(matches!(&r, ArchiveRefusal::ModeMismatch { name: n, got, .. } if n == name && *got == mode), "{r}");
    }
}

#[test]
fn refuses_a_retargeted_link() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/style.css");
        set_link(&mut m[i].header, b"index.html");
    });
    let r = refusal(&bytes, &manifest);
    assert!(
        matches!(&r, ArchiveRefusal::LinkMismatch { name, got, .. } if name == "src/style.css" && got == "index.html"),
        "{r}"
    );
}

#[test]
fn refuses_a_changed_size_or_kind() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        m[i].data.push(b'!');
        let len = m[i].data.len() as u64;
        m[i].header.set_size(len);
        m[i].header.set_cksum();
    });
    assert!(
        matches!(refusal(&bytes, &manifest), ArchiveRefusal::SizeMismatch { name, .. } if name == "src/index.html")
    );
    let bytes = edited(&t, |m| {
        let i = position(m, "src/style.css");
        m[i] = file("src/style.css", 0o777, b"");
    });
    let r = refusal(&bytes, &manifest);
    assert!(
        matches!(&r, ArchiveRefusal::KindMismatch { name, want: "symlink", got: "file" } if name == "src/style.css"),
        "{r}"
    );
}

#[test]
fn refuses_a_duplicate_entry() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        let again = m[i].clone();
        m.push(again);
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Duplicate { name } if name == "src/index.html"));
}

#[test]
fn refuses_a_truncated_stream() {
    let (manifest, t) = packed();
    let whole = zst(&t);
    // Cut anywhere, down to the last byte of the compressed stream.
    let cuts = [0, 1, 4, whole.len() / 3, whole.len() / 2, whole.len() - 20, whole.len() - 2, whole.len() - 1];
    for cut in cuts {
        assert!(verify(&whole[..cut], &manifest).is_err(), "cut at {cut} of {} accepted", whole.len());
    }
    // A tar stream cut between entries, compressed whole, misses entries;
    // cut inside a file's contents, it is truncated.
    let m = members(&t);
    let i = position(&m, "src/css/site.css");
    let at: usize = m[..i].iter().map(|r| 512 + r.data.len().div_ceil(512) * 512).sum();
    let r = refusal(&zst(&t[..at + 512 + 100]), &manifest);
    assert!(matches!(&r, ArchiveRefusal::Truncated { name, .. } if name == "src/css/site.css"), "{r}");
    assert!(verify(&zst(&t[..at]), &manifest).is_err());
}

#[test]
fn refuses_a_stream_cut_where_an_entry_ends() {
    let (manifest, t) = packed();
    // Every entry is there, but not the end-of-archive block.
    let r = refusal(&zst(&t[..t.len() - 1024]), &manifest);
    assert!(matches!(&r, ArchiveRefusal::Corrupt { after: Some(_), .. }), "{r}");
    // An empty release is still a tar stream, not nothing at all.
    let tmp = tempfile::tempdir().unwrap();
    let mut empty = Vec::new();
    let none = pack(tmp.path(), &mut empty).unwrap();
    verify(&empty, &none).unwrap();
    assert!(matches!(refusal(&zst(b""), &none), ArchiveRefusal::Corrupt { after: None, .. }));
    assert!(matches!(refusal(b"", &none), ArchiveRefusal::Corrupt { after: None, .. }));
}

#[test]
fn refuses_corrupt_and_foreign_streams() {
    let (manifest, t) = packed();
    assert!(matches!(refusal(b"not zstd at all", &manifest), ArchiveRefusal::Corrupt { .. }));
    // A gzip of the same tar is not what haul wrote.
    assert!(matches!(refusal(&gz(&t), &manifest), ArchiveRefusal::Corrupt { .. }));
    // A header with a broken checksum.
    let mut bad = t.clone();
    bad[100] ^= 1;
    assert!(matches!(refusal(&zst(&bad), &manifest), ArchiveRefusal::Corrupt { .. }));
}

#[test]
fn refuses_data_after_the_end_of_the_archive() {
    let (manifest, t) = packed();
    let mut more = t.clone();
    more.extend_from_slice(b"hidden payload");
    assert!(matches!(refusal(&zst(&more), &manifest), ArchiveRefusal::Trailing { .. }));
    let mut zeros = t.clone();
    zeros.resize(t.len() + (2 << 20), 0);
    assert!(matches!(refusal(&zst(&zeros), &manifest), ArchiveRefusal::Trailing { .. }));
}

#[test]
fn refuses_kinds_haul_never_ships() {
    let (manifest, t) = packed();
    for (kind, what) in [
        (EntryType::Link, "hard link"),
        (EntryType::Char, "device file"),
        (EntryType::Block, "device file"),
        (EntryType::Fifo, "FIFO"),
        (EntryType::Continuous, "contiguous file"),
        (EntryType::GNUSparse, "sparse file"),
    ] {
        let bytes = edited(&t, |m| {
            let i = position(m, "src/index.html");
            m.insert(i, of_kind("src/index.html", kind, "src/run.sh"));
            m.remove(i + 1);
        });
        let r = refusal(&bytes, &manifest);
        assert!(
            matches!(&r, ArchiveRefusal::Special { name, kind } if name == "src/index.html" && kind == what),
            "{r}"
        );
    }
}

#[test]
fn refuses_absolute_dotdot_and_dot_slash_names() {
    let (manifest, t) = packed();
    for name in ["/etc/passwd", "../outside", "src/../../x", "./src/index.html", "src//index.html", "src/./x"] {
        let bytes = edited(&t, |m| m.push(file(name, 0o644, b"x")));
        let r = refusal(&bytes, &manifest);
        assert!(matches!(&r, ArchiveRefusal::BadName { name: n } if n == name), "{name}: {r}");
    }
}

#[test]
fn refuses_a_pax_record_giving_another_name() {
    let (manifest, t) = packed();
    // The header says one thing; a PAX record says `path` is another. A
    // reader that honours PAX sees another tree than one that does not.
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        m.insert(i, pax(&[("path", b"src/evil.html")], false));
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Pax { .. }));
    let bytes = edited(&t, |m| m.insert(0, pax(&[("comment", b"x")], true)));
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Pax { .. }));
}

#[test]
fn refuses_a_gnu_long_name_the_header_does_not_start() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        m.insert(i, gnu_long(b"src/run.sh", false));
        m.remove(position(m, "src/run.sh"));
    });
    let r = refusal(&bytes, &manifest);
    assert!(matches!(&r, ArchiveRefusal::Extension { name, .. } if name == "src/run.sh"), "{r}");
    // A long link target for a file.
    let bytes = edited(&t, |m| {
        let i = position(m, "src/index.html");
        m.insert(i, gnu_long(&[b'x'; 200], true));
    });
    let r = refusal(&bytes, &manifest);
    assert!(matches!(&r, ArchiveRefusal::Extension { name, .. } if name == "src/index.html"), "{r}");
    // Two long names for one entry, or one with no entry after it.
    let bytes = edited(&t, |m| {
        m.insert(0, gnu_long(b"src/index.html", false));
        m.insert(0, gnu_long(b"src/index.html", false));
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Record { .. }));
    let bytes = edited(&t, |m| m.push(gnu_long(b"src/index.html", false)));
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Record { .. }));
    // A long name the size of a file.
    let bytes = edited(&t, |m| m.insert(0, gnu_long(&vec![b'a'; 1 << 20], false)));
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::Record { .. }));
}

#[test]
fn refuses_data_hidden_in_a_directory_or_link() {
    let (manifest, t) = packed();
    let bytes = edited(&t, |m| {
        let i = position(m, "src/css");
        m[i].data = vec![b'x'; 600];
        m[i].header.set_size(600);
        m[i].header.set_cksum();
    });
    assert!(matches!(refusal(&bytes, &manifest), ArchiveRefusal::SizeMismatch { name, .. } if name == "src/css"));
}

/// A member as a plain reader sees it: name, kind, mode, link target and
/// contents.
type Seen = (Vec<u8>, u8, u32, Option<Vec<u8>>, Vec<u8>);

/// What a plain reader sees of every member.
fn plain_view(tar_bytes: &[u8]) -> Option<Vec<Seen>> {
    use std::io::Read;
    let mut ar = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in ar.entries().ok()? {
        let mut e = e.ok()?;
        let mut data = Vec::new();
        e.read_to_end(&mut data).ok()?;
        let link = e.link_name_bytes().map(|l| l.into_owned());
        out.push((e.path_bytes().into_owned(), e.header().entry_type().as_byte(), e.header().mode().ok()?, link, data));
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn byte_flips_never_panic_and_pass_only_when_contents_match(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        in_tar in any::<bool>(),
    ) {
        let (manifest, t) = packed();
        let original = plain_view(&t).unwrap();
        let bytes = if in_tar {
            let mut t2 = t.clone();
            for (at, x) in &flips { let i = at.index(t2.len()); t2[i] ^= x; }
            zst(&t2)
        } else {
            let mut z = zst(&t);
            for (at, x) in &flips { let i = at.index(z.len()); z[i] ^= x; }
            z
        };
        if verify(&bytes, &manifest).is_ok() {
            let mut tar_bytes = Vec::new();
            let ok = std::io::Read::read_to_end(&mut zstd::Decoder::new(bytes.as_slice()).unwrap(), &mut tar_bytes);
            prop_assert!(ok.is_ok());
            prop_assert_eq!(plain_view(&tar_bytes), Some(original));
        }
    }
}

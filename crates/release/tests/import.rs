//! Importing archives other tools made. A site archived the way people do
//! it (`tar -czf site.tgz src/*`, `tar -C dir .`, `git archive`, zstd,
//! plain) imports to the same manifest `pack` gives the tree. Hostile
//! archives, built header by header, are each refused naming the entry, in
//! every wrapping (plain, gzip, zstd), and leave nothing behind.

mod support;

use haul_release::{ArchiveRefusal, ImportLimits, ReleaseCache, ReleaseError, pack, unpack_foreign};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::*;
use tar::EntryType;

/// Unpacks `bytes` (any wrapping) into a fresh directory.
fn unpack(bytes: &[u8], limits: ImportLimits) -> (tempfile::TempDir, Result<(), ReleaseError>) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("in.archive");
    std::fs::write(&archive, bytes).unwrap();
    let r = unpack_foreign(&archive, &tmp.path().join("out"), limits);
    (tmp, r)
}

/// The refusal of the tar stream `t` in each wrapping (they must agree),
/// after checking nothing was left in the destination.
fn refusal_with(t: &[u8], limits: ImportLimits) -> ArchiveRefusal {
    let mut seen = Vec::new();
    for (wrap, bytes) in [("tar", t.to_vec()), ("gzip", gz(t)), ("zstd", zst(t))] {
        let (tmp, r) = unpack(&bytes, limits);
        let out = tmp.path().join("out");
        assert!(!out.exists(), "{wrap}: the destination was left behind");
        match r {
            Err(ReleaseError::Archive { refusal, .. }) => seen.push((wrap, *refusal)),
            Err(other) => panic!("{wrap}: not an archive refusal: {other}"),
            Ok(()) => panic!("{wrap}: accepted"),
        }
    }
    let first = format!("{:?}", std::mem::discriminant(&seen[0].1));
    for (wrap, r) in &seen {
        assert_eq!(format!("{:?}", std::mem::discriminant(r)), first, "{wrap} refused otherwise: {r}");
    }
    seen.pop().unwrap().1
}

fn refusal(members: &[Raw]) -> ArchiveRefusal {
    refusal_with(&tar(members), ImportLimits::default())
}

fn tree_manifest(root: &Path) -> haul_release::Manifest {
    pack(root, std::io::sink()).unwrap()
}

/// The site with `src` itself at 0755, as an implied directory gets.
fn site_tree(tmp: &Path) -> std::path::PathBuf {
    let root = tmp.join("tree");
    site(&root);
    std::fs::set_permissions(root.join("src"), std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

fn sh(dir: &Path, cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).current_dir(dir).status().unwrap();
    assert!(st.success(), "{cmd}");
}

#[test]
fn ftl_style_archives_import_as_the_tree_packs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = site_tree(tmp.path());
    let want = tree_manifest(&root);
    let a = tmp.path().display();
    // FTL's way (no entry for `src` itself), the whole directory, `./`
    // names, zstd and plain, and the formats GNU tar can write.
    sh(&root, &format!("tar -czf {a}/glob.tgz src/*"));
    sh(&root, &format!("tar -czf {a}/dir.tgz src"));
    sh(&root, &format!("tar -czf {a}/dot.tgz ."));
    sh(&root, &format!("tar --zstd -cf {a}/z.tar.zst src 2>/dev/null || tar -cf - src | zstd -q -o {a}/z.tar.zst"));
    sh(&root, &format!("tar --format=posix -cf {a}/posix.tar src"));
    sh(&root, &format!("tar --format=gnu -cf {a}/gnu.tar src"));
    sh(&root, &format!("tar --format=ustar -cf {a}/ustar.tar src/index.html src/css src/run.sh src/style.css"));
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let mut digests = Vec::new();
    for name in ["glob.tgz", "dir.tgz", "dot.tgz", "z.tar.zst", "posix.tar", "gnu.tar"] {
        let (release, _) = cache.import("site", &tmp.path().join(name), "ci", ImportLimits::default()).unwrap();
        assert_eq!(release.manifest, want, "{name}");
        assert_eq!(release.revision, None);
        digests.push(release.digest);
    }
    // The same contents are the same release.
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(cache.ids("site").unwrap().len(), 1);
    // A part of the tree imports as that part.
    let (part, _) = cache.import("site", &tmp.path().join("ustar.tar"), "ci", ImportLimits::default()).unwrap();
    assert_eq!(part.manifest.entries.len(), 6, "{:?}", part.manifest);
    sh(&root, &format!("tar --format=v7 -cf {a}/v7.tar src/index.html src/css src/run.sh src/style.css"));
    let (v7, _) = cache.import("site", &tmp.path().join("v7.tar"), "ci", ImportLimits::default()).unwrap();
    assert_eq!(v7.manifest, part.manifest);
    // No scratch directory is left in the cache.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("cache/site"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn what_pack_wrote_imports_as_itself_odd_names_included() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    std::fs::create_dir(&root).unwrap();
    haul_testfleet::hostile::odd_tree(&root).unwrap();
    site(&root);
    let archive = tmp.path().join("packed.tar.zst");
    let want = pack(&root, std::fs::File::create(&archive).unwrap()).unwrap();
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let (release, _) = cache.import("odd", &archive, "ci", ImportLimits::default()).unwrap();
    assert_eq!(release.manifest, want);
    // And the release the cache made verifies against its manifest.
    haul_release::verify_archive(&cache.archive(&release).unwrap(), &release.manifest).unwrap();
}

#[test]
fn a_git_archive_global_header_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let root = site_tree(tmp.path());
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all("src", root.join("src")).unwrap();
    let mut m = members(&b.into_inner().unwrap());
    m.insert(0, pax(&[("comment", b"0123456789abcdef0123456789abcdef01234567")], true));
    let (tmp2, r) = unpack(&zst(&tar(&m)), ImportLimits::default());
    r.unwrap();
    assert_eq!(tree_manifest(&tmp2.path().join("out")), tree_manifest(&root));
}

#[test]
fn a_hard_link_to_an_earlier_file_becomes_a_copy() {
    let m = [dir("d", 0o755), file("d/a", 0o640, b"shared"), of_kind("d/b", EntryType::Link, "./d/a")];
    let (tmp, r) = unpack(&tar(&m), ImportLimits::default());
    r.unwrap();
    let out = tmp.path().join("out");
    assert_eq!(std::fs::read(out.join("d/b")).unwrap(), b"shared");
    let manifest = tree_manifest(&out);
    assert_eq!(manifest.entries.len(), 3);
}

#[test]
fn refuses_absolute_names() {
    for name in ["/etc/passwd", "//etc/x", "./../etc"] {
        let r = refusal(&[file(name, 0o644, b"x")]);
        assert!(matches!(&r, ArchiveRefusal::BadName { name: n } if n == name), "{name}: {r}");
    }
}

#[test]
fn refuses_dotdot_names() {
    for name in ["..", "../x", "a/../../x", "a/..", "./a/../../x"] {
        let r = refusal(&[file(name, 0o644, b"x")]);
        assert!(matches!(&r, ArchiveRefusal::BadName { name: n } if n == name), "{name}: {r}");
    }
    // Through a GNU long name and a PAX path too.
    let long = format!("{}/../../../x", "a".repeat(120));
    let r = refusal(&[gnu_long(long.as_bytes(), false), file("innocent", 0o644, b"x")]);
    assert!(matches!(&r, ArchiveRefusal::BadName { name } if *name == long), "{r}");
    let r = refusal(&[pax(&[("path", b"../../x")], false), file("innocent", 0o644, b"x")]);
    assert!(matches!(&r, ArchiveRefusal::BadName { name } if name == "../../x"), "{r}");
}

#[test]
fn refuses_names_with_nul() {
    let r = refusal(&[gnu_long(b"ok\0/../../etc/passwd", false), file("ok", 0o644, b"x")]);
    assert!(matches!(&r, ArchiveRefusal::BadName { name } if name.starts_with("ok\0")), "{r}");
    let r = refusal(&[pax(&[("path", b"a\0b")], false), file("a", 0o644, b"x")]);
    assert!(matches!(&r, ArchiveRefusal::BadName { .. }), "{r}");
}

#[test]
fn refuses_names_that_are_not_clean() {
    for name in ["a//b", "a/./b", "file/"] {
        let r = refusal(&[file(name, 0o644, b"x")]);
        assert!(matches!(&r, ArchiveRefusal::BadName { name: n } if n == name), "{name}: {r}");
    }
    let r = refusal(&[Raw { header: header(b"caf\xe9", EntryType::Regular, 0o644, 0), data: vec![] }]);
    assert!(matches!(&r, ArchiveRefusal::NotUtf8 { .. }), "{r}");
}

#[test]
fn refuses_devices_fifos_and_other_kinds() {
    for (kind, what) in [
        (EntryType::Char, "device file"),
        (EntryType::Block, "device file"),
        (EntryType::Fifo, "FIFO"),
        (EntryType::GNUSparse, "sparse file"),
        (EntryType::Continuous, "contiguous file"),
        (EntryType::new(b'V'), "entry of type 'V'"),
    ] {
        let r = refusal(&[dir("dev", 0o755), of_kind("dev/null", kind, "")]);
        assert!(matches!(&r, ArchiveRefusal::Special { name, kind } if name == "dev/null" && kind == what), "{r}");
    }
}

#[test]
fn refuses_hard_links_to_what_is_not_an_earlier_file() {
    for target in ["/etc/passwd", "../outside", "later", "d", "l", "missing"] {
        let m = [dir("d", 0o755), link("l", "d"), of_kind("h", EntryType::Link, target), file("later", 0o644, b"x")];
        let r = refusal(&m);
        let ok = match &r {
            ArchiveRefusal::HardLink { name, .. } => name == "h",
            ArchiveRefusal::BadLink { name } => name == "h" && (target.starts_with('/') || target.starts_with("..")),
            _ => false,
        };
        assert!(ok, "{target}: {r}");
    }
}

#[test]
fn refuses_escaping_symlinks() {
    let cases: &[&[(&str, &str)]] = &[
        &[("abs", "/etc")],
        &[("up", "../x")],
        &[("d/up", "../../x")],
        // Each alone is inside; `s` (later in the archive) makes `esc` escape.
        &[("esc", "s/../x"), ("s", ".")],
        &[("l1", "l2"), ("l2", "l1")],
    ];
    for links in cases {
        let mut m = vec![dir("d", 0o755)];
        m.extend(links.iter().map(|(n, t)| link(n, t)));
        let r = refusal(&m);
        assert!(matches!(&r, ArchiveRefusal::LinkEscapes { .. }), "{links:?}: {r}");
    }
    let r = refusal(&[link("empty", "")]);
    assert!(matches!(&r, ArchiveRefusal::BadLink { name } if name == "empty"), "{r}");
}

#[test]
fn refuses_files_written_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let target = victim.to_str().unwrap();
    // The classic: `a -> /etc`, then `a/passwd`; also through a link that
    // stays inside, and through a file.
    for (m, through, what) in [
        (vec![link("a", target), file("a/passwd", 0o644, b"root::0:0")], "a", "symlink"),
        (vec![dir("sub", 0o755), link("a", "sub"), file("a/x", 0o644, b"x")], "a", "symlink"),
        (vec![link("a", target), dir("a", 0o755)], "a", ""),
        (vec![file("f", 0o644, b"x"), file("f/x", 0o644, b"x")], "f", "file"),
        (vec![link("a", target), of_kind("a/h", EntryType::Link, "x")], "a", "symlink"),
    ] {
        let r = refusal(&m);
        let ok = match &r {
            ArchiveRefusal::Through { through: t, what: w, .. } => t == through && *w == what,
            ArchiveRefusal::Duplicate { name } => name == through && what.is_empty(),
            _ => false,
        };
        assert!(ok, "{r}");
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    }
}

#[test]
fn refuses_setuid_setgid_and_sticky_bits() {
    for mode in [0o4755, 0o2755, 0o1777, 0o104755] {
        let r = refusal(&[file("bin/tool", mode, b"#!/bin/sh\n")]);
        assert!(matches!(&r, ArchiveRefusal::PrivilegeBits { name, .. } if name == "bin/tool"), "{mode:o}: {r}");
        let r = refusal(&[dir("shared", mode)]);
        assert!(matches!(&r, ArchiveRefusal::PrivilegeBits { name, .. } if name == "shared"), "{mode:o}: {r}");
    }
}

#[test]
fn keeps_permission_bits() {
    let m = [dir("d", 0o750), file("d/x", 0o600, b"x"), file("d/run", 0o7_55, b"x"), file("odd", 0o100644, b"")];
    let (tmp, r) = unpack(&tar(&m), ImportLimits::default());
    r.unwrap();
    let mode = |p: &str| std::fs::metadata(tmp.path().join("out").join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("d"), mode("d/x"), mode("d/run"), mode("odd")), (0o750, 0o600, 0o755, 0o644));
}

#[test]
fn refuses_more_than_max_entries() {
    let m: Vec<Raw> = (0..11).map(|i| file(&format!("f{i}"), 0o644, b"")).collect();
    let limits = ImportLimits { max_entries: 10, ..ImportLimits::default() };
    assert!(matches!(refusal_with(&tar(&m), limits), ArchiveRefusal::TooManyEntries { limit: 10 }));
    let (_t, r) = unpack(&tar(&m[..10]), limits);
    r.unwrap();
    // The directories a deep name makes count too.
    let deep = [file("a/b/c/d/e/f/g/h/i/j/x", 0o644, b"")];
    assert!(matches!(refusal_with(&tar(&deep), limits), ArchiveRefusal::TooManyEntries { limit: 10 }));
}

#[test]
fn refuses_more_than_max_bytes() {
    let limits = ImportLimits { max_bytes: 1000, ..ImportLimits::default() };
    let m = [file("a", 0o644, &[1; 600]), file("b", 0o644, &[2; 401])];
    let r = refusal_with(&tar(&m), limits);
    assert!(matches!(&r, ArchiveRefusal::TooManyBytes { name, limit: 1000 } if name == "b"), "{r}");
    // Hard links carry no contents in the archive, but their copies count.
    let m = [file("a", 0o644, &[1; 600]), of_kind("b", EntryType::Link, "a")];
    let r = refusal_with(&tar(&m), limits);
    assert!(matches!(&r, ArchiveRefusal::TooManyBytes { name, .. } if name == "b"), "{r}");
    let (_t, r) = unpack(&tar(&[file("a", 0o644, &[1; 1000])]), limits);
    r.unwrap();
}

#[test]
fn refuses_duplicate_names() {
    for m in [
        vec![file("a", 0o644, b"1"), file("a", 0o644, b"2")],
        vec![file("a", 0o644, b"1"), file("./a", 0o644, b"2")],
        vec![dir("d", 0o755), dir("d/", 0o755)],
        vec![file("a", 0o644, b"1"), link("a", "b")],
    ] {
        let r = refusal(&m);
        assert!(matches!(&r, ArchiveRefusal::Duplicate { name } if name == "a" || name == "d"), "{r}");
    }
    // A file where earlier entries made a directory.
    let r = refusal(&[file("d/x", 0o644, b"1"), file("d", 0o644, b"2")]);
    assert!(matches!(&r, ArchiveRefusal::Conflict { name, what: "file" } if name == "d"), "{r}");
}

#[test]
fn refuses_names_the_extension_records_disagree_on() {
    let m = [gnu_long(b"a.txt", false), pax(&[("path", b"b.txt")], false), file("a.txt", 0o644, b"x")];
    let r = refusal(&m);
    assert!(matches!(&r, ArchiveRefusal::Extension { .. }), "{r}");
    let m = [pax(&[("size", b"1")], false), file("a", 0o644, b"xx")];
    assert!(matches!(refusal(&m), ArchiveRefusal::Extension { .. }));
    let m = [pax(&[("path", b"x")], true), file("a", 0o644, b"xx")];
    assert!(matches!(refusal(&m), ArchiveRefusal::Record { .. }));
}

#[test]
fn refuses_what_is_not_a_tar_archive() {
    for (bytes, found) in [
        (b"PK\x03\x04zipzipzip".to_vec(), "a zip archive"),
        (b"BZh91AY&SY".to_vec(), "a bzip2 stream"),
        (Vec::new(), "an empty file"),
        (vec![b'x'; 2000], "no tar header, starting with bytes 78 78"),
    ] {
        let (tmp, r) = unpack(&bytes, ImportLimits::default());
        match r {
            Err(ReleaseError::Archive { refusal, .. }) if matches!(&*refusal, ArchiveRefusal::Format { found: f } if f.starts_with(found)) =>
                {}
            other => panic!("{found}: {other:?}"),
        }
        assert!(!tmp.path().join("out").exists());
    }
}

#[test]
fn refuses_truncated_and_corrupt_streams() {
    let t = tar(&[dir("d", 0o755), file("d/a", 0o644, &[7; 5000]), file("d/b", 0o644, b"b")]);
    for bytes in [gz(&t), zst(&t)] {
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            let (_t, r) = unpack(&bytes[..cut], ImportLimits::default());
            assert!(matches!(r, Err(ReleaseError::Archive { .. })), "cut {cut}: {r:?}");
        }
    }
    // A gzip whose CRC is wrong: noticed because the stream is read to its end.
    let mut g = gz(&t);
    let n = g.len();
    g[n - 8] ^= 0xff;
    let (_t, r) = unpack(&g, ImportLimits::default());
    assert!(
        matches!(&r, Err(ReleaseError::Archive { refusal, .. }) if matches!(**refusal, ArchiveRefusal::Corrupt { .. })),
        "{r:?}"
    );
    // Cut where an entry ends: the end-of-archive block is missing.
    let r = refusal_with(&t[..t.len() - 1024], ImportLimits::default());
    assert!(matches!(&r, ArchiveRefusal::Corrupt { after: Some(name), .. } if name == "d/b"), "{r}");
    let r = refusal_with(&t[..512 + 1000], ImportLimits::default());
    assert!(
        matches!(&r, ArchiveRefusal::Truncated { name, .. } | ArchiveRefusal::Corrupt { after: Some(name), .. } if name == "d/a" || name == "d"),
        "{r}"
    );
}

#[test]
fn refuses_a_destination_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar");
    std::fs::write(&archive, tar(&[file("a", 0o644, b"x")])).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine"), "keep").unwrap();
    let r = unpack_foreign(&archive, &out, ImportLimits::default());
    assert!(
        matches!(&r, Err(ReleaseError::Archive { refusal, .. }) if matches!(**refusal, ArchiveRefusal::DestNotEmpty)),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(out.join("mine")).unwrap(), "keep");
    // An empty one given is emptied again on a refusal, and stays.
    std::fs::remove_file(out.join("mine")).unwrap();
    std::fs::write(&archive, tar(&[dir("ro", 0o500), file("ro/x", 0o400, b"x"), file("../x", 0o644, b"x")])).unwrap();
    let r = unpack_foreign(&archive, &out, ImportLimits::default());
    assert!(
        matches!(&r, Err(ReleaseError::Archive { refusal, .. }) if matches!(**refusal, ArchiveRefusal::BadName { .. })),
        "{r:?}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn a_refused_import_leaves_nothing_in_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("bad.tgz");
    // A refusal after directories and files were made: the scratch goes.
    let m = [dir("ro", 0o555), file("ro/x", 0o444, b"x"), file("/etc/passwd", 0o644, b"x")];
    std::fs::write(&archive, gz(&tar(&m))).unwrap();
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let r = cache.import("site", &archive, "ci", ImportLimits::default());
    assert!(
        matches!(&r, Err(ReleaseError::Archive { refusal, .. }) if matches!(**refusal, ArchiveRefusal::BadName { .. })),
        "{r:?}"
    );
    assert_eq!(std::fs::read_dir(tmp.path().join("cache/site")).unwrap().count(), 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    /// Random damage to an archive with links never panics, and whatever is
    /// unpacked stays inside the destination; a refusal leaves nothing.
    #[test]
    fn damaged_archives_never_panic_or_leave_the_tree(
        flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), 1u8..=255), 1..6),
        wrap in 0u8..3,
        in_tar in proptest::prelude::any::<bool>(),
    ) {
        let mut t = tar(&[
            dir("d", 0o755),
            file("d/a", 0o644, &[7; 700]),
            link("d/l", "a"),
            link("up", "d/l"),
            of_kind("d/h", EntryType::Link, "d/a"),
            gnu_long(format!("d/{}", "n".repeat(150)).as_bytes(), false),
            file("d/long", 0o600, b"x"),
        ]);
        let wrapped = |t: &[u8]| match wrap {
            0 => t.to_vec(),
            1 => gz(t),
            _ => zst(t),
        };
        let flip = |b: &mut Vec<u8>| {
            for (at, x) in &flips {
                let i = at.index(b.len());
                b[i] ^= x;
            }
        };
        // Damage the tar inside, or the compressed stream.
        let bytes = if wrap == 0 || in_tar {
            flip(&mut t);
            wrapped(&t)
        } else {
            let mut b = wrapped(&t);
            flip(&mut b);
            b
        };
        let (tmp, r) = unpack(&bytes, ImportLimits::default());
        let mut names: Vec<String> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        match r {
            Ok(()) => {
                proptest::prop_assert_eq!(names, vec!["in.archive".to_string(), "out".to_string()]);
                // What was made packs: no link leads out, nothing special.
                pack(&tmp.path().join("out"), std::io::sink()).unwrap();
            }
            Err(_) => proptest::prop_assert_eq!(names, vec!["in.archive".to_string()]),
        }
    }
}

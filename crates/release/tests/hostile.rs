//! Hostile trees: every kind of link that leads out of the tree, special
//! files and odd names, packed for real. Escapes and special files are
//! refused naming the path; odd names ship intact, and the release record
//! (the lines the host patches with `awk`) keeps them whole. The link
//! resolver is checked against the kernel's own resolution (`realpath -m`)
//! on generated trees.

use haul_release::{LinkEscape, ReleaseCache, ReleaseError, resolve_link};
use haul_testfleet::hostile::{self, ODD_NAMES};
use proptest::prelude::*;
use std::collections::HashMap;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

/// A tree at `<tmp>/r0ot` beside a sentinel, for links to aim at.
fn sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("r0ot");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("index.html"), "hi").unwrap();
    std::fs::create_dir_all(tmp.path().join("sentinel")).unwrap();
    std::fs::write(tmp.path().join("sentinel/secret"), "s").unwrap();
    (tmp, root)
}

#[test]
fn every_kind_of_escaping_link_is_refused() {
    // (links to make, the one refused, what the message says)
    type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
    let cases: &[Case] = &[
        (&[("abs", "/etc/passwd")], "abs", "absolute target"),
        (&[("abs_dangling", "/nonexistent/x")], "abs_dangling", "absolute target"),
        (&[("abs_into_tree", "/r0ot/index.html")], "abs_into_tree", "absolute target"),
        (&[("up", "../sentinel/secret")], "up", "climbs above the tree's root"),
        (&[("up_dangling", "../missing")], "up_dangling", "climbs above the tree's root"),
        (&[("sub/deeper/up", "../../../sentinel")], "sub/deeper/up", "climbs above"),
        (&[("s", "."), ("esc", "s/s/s/../../../../../tmp/x")], "esc", "followed through `s`"),
        (&[("d", "sub/deeper"), ("x", "d/../../../sentinel")], "x", "followed through `d`"),
        (&[("d", "sub/deeper"), ("x", "d/../../../missing/file")], "x", "followed through `d`"),
        (&[("data", "../sentinel")], "data", "climbs above"),
        (&[("loop1", "loop2"), ("loop2", "loop1")], "loop1", "a loop of links"),
        (&[("abs", "/tmp"), ("via", "abs/x")], "abs", "absolute target"),
    ];
    for (links, refused, why) in cases {
        let (tmp, root) = sandbox();
        hostile::links(&root, links).unwrap();
        let cache = ReleaseCache::new(tmp.path().join("cache"));
        let err = cache.build("app", &root, "t", None).unwrap_err();
        match &err {
            ReleaseError::SymlinkEscapes { path, .. } => assert_eq!(path, refused, "{links:?}: {err}"),
            other => panic!("{links:?}: not refused as an escape: {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(why) && msg.contains(&format!("symlink `{refused}`")), "{links:?}: {msg}");
        // Nothing was left in the cache.
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("cache/app")).unwrap().collect();
        assert!(left.is_empty(), "{links:?}: left {left:?}");
    }
}

#[test]
fn links_that_stay_inside_ship_dangling_or_not() {
    let (tmp, root) = sandbox();
    for (path, target) in [
        ("s", "."),
        ("ok", "s/s/s/index.html"),
        ("d", "sub/deeper"),
        ("x", "d/../../index.html"),
        ("dangling", "sub/not-yet-there"),
        ("sub/deeper/back", "../../index.html"),
    ] {
        symlink(target, root.join(path)).unwrap();
    }
    let (release, _) = ReleaseCache::new(tmp.path().join("cache")).build("app", &root, "t", None).unwrap();
    let links = release.manifest.entries.iter().filter(|e| matches!(e.kind, haul_release::Kind::Symlink { .. }));
    assert_eq!(links.count(), 6);
}

#[test]
fn special_files_are_refused_naming_the_path() {
    let (tmp, root) = sandbox();
    let fifo = root.join("sub/pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = haul_release::pack(&root, std::io::sink()).unwrap_err().to_string();
    assert_eq!(err, "`sub/pipe` is a FIFO; only files, directories and symlinks can ship");
    std::fs::remove_file(&fifo).unwrap();

    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let err = haul_release::pack(&root, std::io::sink()).unwrap_err().to_string();
    assert_eq!(err, "`sock` is a socket; only files, directories and symlinks can ship");
    std::fs::remove_file(root.join("sock")).unwrap();

    // A device file, where this machine lets us make one (root can).
    if Command::new("mknod").arg(root.join("null")).args(["c", "1", "3"]).status().unwrap().success() {
        let err = haul_release::pack(&root, std::io::sink()).unwrap_err().to_string();
        assert_eq!(err, "`null` is a device file; only files, directories and symlinks can ship");
    }
    drop(tmp);
}

#[test]
fn odd_names_ship_intact_and_the_record_keeps_them_whole() {
    let (tmp, root) = sandbox();
    hostile::odd_tree(&root).unwrap();
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let (release, _) = cache.build("app", &root, "t", None).unwrap();
    for name in ODD_NAMES {
        assert!(release.manifest.entries.iter().any(|e| e.path == *name), "{name:?} missing");
        assert!(release.manifest.entries.iter().any(|e| e.path == format!("d {name}/{name}")));
        assert!(release.manifest.entries.iter().any(|e| e.path == format!("l {name}")));
    }
    // One line per entry: no name breaks a line of the record.
    let text = release.to_lines();
    assert_eq!(text.lines().count(), release.manifest.entries.len() + 1);
    assert_eq!(haul_release::Release::from_lines(&text).unwrap(), release);
    // The archive unpacks to the same tree.
    let out = tmp.path().join("unpacked");
    std::fs::create_dir(&out).unwrap();
    let file = std::fs::File::open(cache.archive(&release).unwrap()).unwrap();
    tar::Archive::new(zstd::Decoder::new(file).unwrap()).unpack(&out).unwrap();
    assert_eq!(haul_release::pack(&out, std::io::sink()).unwrap(), release.manifest);
}

#[test]
fn names_that_are_not_utf8_are_refused_clearly() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, root) = sandbox();
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::fs::write(root.join("sub").join(bad), "x").unwrap();
    let err = haul_release::pack(&root, std::io::sink()).unwrap_err();
    assert!(matches!(err, ReleaseError::NotUtf8 { .. }), "{err}");
    assert!(err.to_string().contains("sub/caf\u{fffd}` has a name that is not UTF-8"), "{err}");
    std::fs::remove_file(root.join("sub").join(bad)).unwrap();

    symlink(bad, root.join("link")).unwrap();
    let err = haul_release::pack(&root, std::io::sink()).unwrap_err().to_string();
    assert_eq!(err, "symlink `link` has a target that is not UTF-8; only UTF-8 targets can ship");
}

/// A generated tree: directories and links over three names, two deep.
fn tree() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    let names = ["a", "b", "c"];
    let mut paths: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    for p in names {
        for c in names {
            paths.push(format!("{p}/{c}"));
        }
    }
    let target = prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "..", "."]), 1..6)
        .prop_map(|parts| parts.join("/"));
    // None: nothing there; Some(None): a directory; Some(Some(t)): a link.
    let node = prop_oneof![2 => Just(None), 2 => Just(Some(None)), 3 => target.prop_map(|t| Some(Some(t)))];
    prop::collection::vec(node, paths.len()).prop_map(move |nodes| {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (p, n) in paths.iter().zip(nodes) {
            let Some(n) = n else { continue };
            if let Some((parent, _)) = p.split_once('/')
                && !out.iter().any(|(q, t)| q == parent && t.is_none())
            {
                continue;
            }
            out.push((p.clone(), n));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Where the resolver says a link leads is where the kernel leads it
    /// (`realpath -m`: existing links followed, missing parts taken
    /// lexically); what it refuses as climbing out, the kernel leads out.
    #[test]
    fn resolver_agrees_with_the_kernel(t in tree()) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("r0ot");
        std::fs::create_dir(&root).unwrap();
        for (p, n) in &t {
            match n {
                None => std::fs::create_dir(root.join(p)).unwrap(),
                Some(target) => symlink(target, root.join(p)).unwrap(),
            }
        }
        let links: HashMap<&str, &str> =
            t.iter().filter_map(|(p, n)| n.as_deref().map(|t| (p.as_str(), t))).collect();
        let root = std::fs::canonicalize(&root).unwrap();
        for (&link, &target) in &links {
            match resolve_link(link, target, |p| links.get(p).copied()) {
                Ok(p) => {
                    let kernel = realpath(&root.join(link));
                    let want = if p.is_empty() { root.clone() } else { root.join(&p) };
                    prop_assert_eq!(&kernel, &want, "{} -> {} in {:?}", link, target, t);
                }
                Err(LinkEscape::AboveRoot { .. }) => {
                    let kernel = realpath(&root.join(link));
                    prop_assert!(!kernel.starts_with(&root), "{} -> {} in {:?}: {:?}", link, target, t, kernel);
                }
                // The kernel gives up on loops (`realpath -m` takes them as
                // missing, after a walk that can take exponential time).
                Err(LinkEscape::Loop) => {}
                Err(e) => prop_assert!(false, "{} -> {}: {}", link, target, e),
            }
        }
    }
}

fn realpath(p: &Path) -> std::path::PathBuf {
    let out = Command::new("timeout").args(["20", "realpath", "-m"]).arg(p).output().unwrap();
    assert!(out.status.success(), "realpath -m {}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end_matches('\n').into()
}

/// The chain of the issue: `s -> .` makes each `s/` add no depth, so
/// counting `..` in the text passed it while its target was missing.
#[test]
fn dangling_link_chain_out_of_tree_is_refused() {
    let (_tmp, root) = sandbox();
    symlink(".", root.join("s")).unwrap();
    symlink("s/s/s/../../../../../tmp/x", root.join("esc")).unwrap();
    let err = haul_release::pack(&root, std::io::sink()).unwrap_err().to_string();
    assert_eq!(
        err,
        "symlink `esc` points to `s/s/s/../../../../../tmp/x`, outside the tree that ships: followed through `s` (a link in the tree), it climbs above the tree's root"
    );
}

/// A cached release is checked by the same rule before it ships: a record
/// rewritten with an escaping link (and a matching digest) is refused.
#[test]
fn a_cached_release_with_an_escaping_link_is_refused() {
    let (tmp, root) = sandbox();
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let (mut release, _) = cache.build("app", &root, "t", None).unwrap();
    let mut entries = release.manifest.entries.clone();
    entries.push(haul_release::Entry {
        path: "esc".into(),
        mode: 0o777,
        kind: haul_release::Kind::Symlink { target: "sub/../../x".into() },
    });
    release.manifest = haul_release::Manifest::new(entries);
    release.digest = release.manifest.digest();
    let record = tmp.path().join("cache/app").join(format!("{}.record", release.id));
    std::fs::write(&record, release.to_lines()).unwrap();
    let err = cache.get("app", &release.id).unwrap_err();
    assert!(matches!(&err, ReleaseError::SymlinkEscapes { path, .. } if path == "esc"), "{err}");
}

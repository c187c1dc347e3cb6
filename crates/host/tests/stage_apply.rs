//! The staging law: staging a release over the host's newest one, by the
//! manifest diff, yields exactly the new tree, and the old release does not
//! change by a byte. Checked in memory (`Diff::apply`) and on real trees with
//! real `sh`, `tar` and `cp` through the local transport, under each shell a
//! host may have.

mod shells;

use haul_host::{Event, EventKind, Holder, HostApp, LockInfo};
use haul_release::{Diff, Manifest, ReleaseCache};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A node of a generated tree.
#[derive(Debug, Clone)]
enum Node {
    File { content: u8, mode: u32 },
    Dir { mode: u32 },
    Link { target: &'static str },
}

/// Paths of depth one and two over three names: small enough that two random
/// trees share many paths, with every kind of change between them.
fn universe() -> Vec<String> {
    let names = ["a", "b", "c"];
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    for p in names {
        for c in names {
            v.push(format!("{p}/{c}"));
        }
    }
    v
}

fn node() -> impl Strategy<Value = Option<Node>> {
    prop_oneof![
        2 => Just(None),
        3 => (0u8..4, prop::sample::select(vec![0o644u32, 0o755, 0o600, 0o640]))
            .prop_map(|(content, mode)| Some(Node::File { content, mode })),
        2 => prop::sample::select(vec![0o755u32, 0o700, 0o750]).prop_map(|mode| Some(Node::Dir { mode })),
        1 => prop::sample::select(vec!["a", "missing", "../b"]).prop_map(|target| Some(Node::Link { target })),
    ]
}

/// A tree: children exist only under directories; `../b` links only where
/// they stay inside; no link named `a` points to `a` (itself: a loop, which
/// `pack` refuses).
fn tree() -> impl Strategy<Value = BTreeMap<String, Node>> {
    prop::collection::vec(node(), universe().len()).prop_map(|nodes| {
        let mut t = BTreeMap::new();
        for (path, n) in universe().into_iter().zip(nodes) {
            let Some(n) = n else { continue };
            if let Some((parent, _)) = path.split_once('/') {
                if !matches!(t.get(parent), Some(Node::Dir { .. })) {
                    continue;
                }
            } else if matches!(n, Node::Link { target: "../b" }) {
                continue;
            }
            if matches!(n, Node::Link { target: "a" }) && path.rsplit('/').next() == Some("a") {
                continue;
            }
            t.insert(path, n);
        }
        t
    })
}

fn content(i: u8) -> Vec<u8> {
    // Distinct sizes and bytes, one of them empty.
    (0..(i as usize * 700)).map(|k| (k as u8).wrapping_mul(i + 1)).collect()
}

fn write(root: &Path, t: &BTreeMap<String, Node>) {
    std::fs::create_dir_all(root).unwrap();
    for (p, n) in t {
        let full = root.join(p);
        match n {
            Node::File { content: c, .. } => std::fs::write(&full, content(*c)).unwrap(),
            Node::Dir { .. } => std::fs::create_dir(&full).unwrap(),
            Node::Link { target } => std::os::unix::fs::symlink(target, &full).unwrap(),
        }
    }
    // Modes last, deepest first, so restrictive directory modes do not get
    // in the way of writing children.
    for (p, n) in t.iter().rev() {
        let mode = match n {
            Node::File { mode, .. } | Node::Dir { mode } => *mode,
            Node::Link { .. } => continue,
        };
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn manifest_of(dir: &Path) -> Manifest {
    haul_release::pack(dir, std::io::sink()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn diff_applied_in_memory_gives_the_new_manifest(a in tree(), b in tree()) {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("a"), &a);
        write(&tmp.path().join("b"), &b);
        let (ma, mb) = (manifest_of(&tmp.path().join("a")), manifest_of(&tmp.path().join("b")));
        let d = Diff::between(Some(&ma), &mb);
        prop_assert_eq!(d.apply(Some(&ma)), mb.clone());
        prop_assert_eq!(Diff::between(None, &mb).apply(None), mb);
    }
}

/// Stages `a`, then `b` over it, under `shell`.
fn staging_over_a_real_tree_gives_the_new_tree(
    shell: &[&str],
    a: BTreeMap<String, Node>,
    b: BTreeMap<String, Node>,
) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("src-a"), &a);
    write(&tmp.path().join("src-b"), &b);
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let (ra, _) = cache.build("app", &tmp.path().join("src-a"), "test", None).unwrap();
    let (rb, same) = cache.build("app", &tmp.path().join("src-b"), "test", None).unwrap();
    let host = HostApp::new(shells::local(shell), tmp.path().join("host/app").display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let lock = LockInfo::new(Holder::current(), "t", "deploy".into());
    rt.block_on(async {
        host.lock(&lock).await.unwrap();
        host.stage(&ra, &cache.contents(&ra).unwrap(), None, &[], false, &lock.token).await.unwrap();
        host.complete(&haul_release::ReleaseId::parse(&ra.id).unwrap(), &lock.token).await.unwrap();
        let to = haul_release::ReleaseId::parse(&ra.id).unwrap();
        host.switch(&to, &Event::now(EventKind::Deploy, "t"), &lock.token).await.unwrap();
    });
    let dir_a = tmp.path().join("host/app/releases").join(&ra.id);
    prop_assert_eq!(manifest_of(&dir_a), ra.manifest.clone());
    if same {
        return Ok(()); // identical trees are one release
    }
    rt.block_on(async {
        let report = host.stage(&rb, &cache.contents(&rb).unwrap(), Some(&ra), &[], false, &lock.token).await.unwrap();
        let d = Diff::between(Some(&ra.manifest), &rb.manifest);
        assert_eq!(report.sent_files, d.send_files());
        host.complete(&haul_release::ReleaseId::parse(&rb.id).unwrap(), &lock.token).await.unwrap();
    });
    let dir_b = tmp.path().join("host/app/releases").join(&rb.id);
    prop_assert_eq!(manifest_of(&dir_b), rb.manifest.clone());
    // The record the host rebuilt from the patch is the release's record.
    let record = std::fs::read_to_string(tmp.path().join(format!("host/app/releases/{}.manifest", rb.id))).unwrap();
    prop_assert_eq!(record, rb.to_lines());
    prop_assert_eq!(manifest_of(&dir_a), ra.manifest.clone(), "the old release changed");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn staging_over_a_real_tree_gives_the_new_tree_under_dash(a in tree(), b in tree()) {
        staging_over_a_real_tree_gives_the_new_tree(&["dash"], a, b)?;
    }

    #[test]
    fn staging_over_a_real_tree_gives_the_new_tree_under_busybox_sh(a in tree(), b in tree()) {
        staging_over_a_real_tree_gives_the_new_tree(&["busybox", "sh"], a, b)?;
    }

    #[test]
    fn staging_over_a_real_tree_gives_the_new_tree_under_bash(a in tree(), b in tree()) {
        staging_over_a_real_tree_gives_the_new_tree(&["bash"], a, b)?;
    }
}

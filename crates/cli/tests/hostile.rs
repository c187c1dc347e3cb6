//! Hostile inputs through the real binary on local hosts: trees with links
//! that lead out, odd names, shared paths, release ids and step environment
//! values built to break quoting. Each is refused with a clear message or
//! shipped intact, and nothing is written outside the app directory:
//! sentinel directories beside the app directory and beside the project are
//! snapshotted before and after every run.

mod common;

use common::{Out, Project, config, snapshot};
use haul_testfleet::hostile::{self, ODD_NAMES};
use std::os::unix::fs::symlink;
use std::path::PathBuf;

/// Directories nothing may touch: one beside host `a`'s app directory
/// (`.haul/hosts/a/sentinel`) and a `/tmp`-like one in the project.
struct Sentinels {
    dirs: Vec<PathBuf>,
    before: Vec<Vec<(String, Vec<u8>, u32)>>,
}

impl Sentinels {
    fn new(p: &Project) -> Sentinels {
        let dirs = vec![p.path().join(".haul/hosts/a/sentinel"), p.path().join("tmp")];
        for d in &dirs {
            std::fs::create_dir_all(d.join("uploads")).unwrap();
            std::fs::write(d.join("uploads/keep"), "precious\n").unwrap();
            std::fs::write(d.join("x"), "x\n").unwrap();
        }
        let before = dirs.iter().map(|d| snapshot(d)).collect();
        Sentinels { dirs, before }
    }

    #[track_caller]
    fn unchanged(&self, what: &str) {
        for (d, before) in self.dirs.iter().zip(&self.before) {
            assert_eq!(&snapshot(d), before, "{what}: {} changed", d.display());
        }
    }
}

fn all(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// No file named `pwned` was made anywhere in the project: no name or value
/// was run as a command.
#[track_caller]
fn nothing_ran(p: &Project) {
    let found: Vec<String> = snapshot(p.path()).into_iter().map(|(n, ..)| n).filter(|n| n.ends_with("pwned")).collect();
    assert!(found.is_empty(), "a name was run as a command: {found:?}");
}

#[test]
fn escaping_links_are_refused_before_any_host_is_touched() {
    // From `src/` (and from `releases/<id>/` on a host), `../tmp` and
    // `../../../sentinel` aim at the sentinels.
    type Case = (&'static [(&'static str, &'static str)], &'static str);
    let cases: &[Case] = &[
        (&[("abs", "/etc")], "abs"),
        (&[("abs_dangling", "/nonexistent/x")], "abs_dangling"),
        (&[("up", "../tmp/x")], "up"),
        (&[("up_dangling", "../../../sentinel/new")], "up_dangling"),
        (&[("s", "."), ("esc", "s/s/s/../../../../../tmp/x")], "esc"),
        (&[("d", "assets"), ("x", "d/../../tmp")], "x"),
        (&[("data", "../tmp")], "data"),
        (&[("loop", "loop/x")], "loop"),
    ];
    for (links, refused) in cases {
        let p = Project::new(&config("shared = [\"data/uploads/\"]", ""));
        let sentinels = Sentinels::new(&p);
        hostile::links(&p.path().join("src"), links).unwrap();
        let out = p.haul(&["deploy", "app", "test"]).fails(1);
        let msg = all(&out);
        assert!(
            msg.contains(&format!("symlink `{refused}` points to `"))
                && msg.contains(", outside the tree that ships: "),
            "{links:?}: {msg}"
        );
        assert!(!p.host("a").exists() && !p.host("b").exists(), "{links:?}: a host was touched");
        sentinels.unchanged(&format!("{links:?}"));
    }
}

/// The issue's case: a link that climbs out through a chain (`s -> .`)
/// dangled at build time, shipped, and placing `data/uploads/` on the host
/// ran `rm -rf` through it, outside the app directory.
#[test]
fn chained_link_under_a_shared_path_removes_nothing_outside_the_app() {
    let p = Project::new(&config("shared = [\"data/uploads/\"]", ""));
    let sentinels = Sentinels::new(&p);
    symlink(".", p.path().join("src/s")).unwrap();
    // From `releases/<id>/` on host `a` this is `.haul/hosts/a/sentinel`.
    symlink("s/s/s/s/s/../../../sentinel", p.path().join("src/data")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(
        all(&out).contains("symlink `data` points to `s/s/s/s/s/../../../sentinel`, outside the tree that ships"),
        "{}",
        all(&out)
    );
    assert!(!p.host("a").exists() && !p.host("b").exists(), "a host was touched");
    sentinels.unchanged("a chained link under a shared path");
}

#[test]
fn shared_path_through_a_shipped_link_is_refused() {
    // `data` is a link inside the tree, so it ships; a shared path under it
    // would be placed through it.
    let p = Project::new(&config("shared = [\"data/uploads/\"]", ""));
    let sentinels = Sentinels::new(&p);
    p.write("src/store/readme", "r\n");
    symlink("store", p.path().join("src/data")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    let msg = all(&out);
    assert!(
        msg.contains("a: release ")
            && msg.contains("shared path `data/uploads` passes through `data`, a symlink in the release"),
        "{msg}"
    );
    assert_eq!(p.live("a"), None);
    assert!(p.releases("a").is_empty(), "the half-staged release is cleaned up");
    sentinels.unchanged("shared through a shipped link");
}

#[test]
fn a_link_put_into_a_base_release_on_the_host_is_never_followed() {
    let p = Project::new(&config("shared = [\"data/uploads/\"]", ""));
    let sentinels = Sentinels::new(&p);
    p.write("src/data/readme", "v1\n");
    let v1 = p.deploy();
    // Someone replaces a directory of the live release on host `a` with a
    // link to the sentinel (which has an `uploads/` of its own).
    let base = p.host("a").join("releases").join(&v1);
    std::fs::remove_dir_all(base.join("data")).unwrap();
    symlink("../../../sentinel", base.join("data")).unwrap();
    let sentinels_now =
        Sentinels { dirs: sentinels.dirs.clone(), before: sentinels.dirs.iter().map(|d| snapshot(d)).collect() };

    // A change elsewhere: the shared path would be cleared through `data`.
    p.write("src/index.html", "v2\n");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    let msg = all(&out);
    assert!(msg.contains("a: stage ") && msg.contains("shared path `data/uploads` passes through `data`"), "{msg}");
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()));
    sentinels_now.unchanged("shared path cleared through a planted link");

    // A change under `data/`: the dropped file would be removed through it.
    p.write("src/data/readme", "v3\n");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    let msg = all(&out);
    assert!(msg.contains("a: stage ") && msg.contains("`data` in the copy of the base release is a symlink"), "{msg}");
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()));
    assert_eq!(p.live("b").as_deref(), Some(v1.as_str()));
    sentinels_now.unchanged("drop through a planted link");
    drop(sentinels);
}

#[test]
fn shared_and_releases_placed_as_links_on_the_host_are_refused() {
    let p = Project::new(&config("shared = [\"log/\", \"config/app.env\"]", ""));
    let sentinels = Sentinels::new(&p);
    let v1 = p.deploy();
    let app = p.host("a");

    // `shared` itself a link: refused, nothing created through it.
    std::fs::rename(app.join("shared"), app.join("shared.real")).unwrap();
    symlink("../sentinel", app.join("shared")).unwrap();
    p.write("src/index.html", "v2\n");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(all(&out).contains("`shared` in the app directory is a symlink"), "{}", all(&out));
    sentinels.unchanged("shared as a link");
    std::fs::remove_file(app.join("shared")).unwrap();
    std::fs::rename(app.join("shared.real"), app.join("shared")).unwrap();

    // A directory on the way under `shared/`: refused.
    std::fs::remove_dir_all(app.join("shared/config")).unwrap();
    symlink("../../sentinel", app.join("shared/config")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(all(&out).contains("`shared/config` in the app directory is a symlink"), "{}", all(&out));
    sentinels.unchanged("a directory of a shared path as a link");
    std::fs::remove_file(app.join("shared/config")).unwrap();

    // `releases` a link: refused.
    std::fs::rename(app.join("releases"), app.join("releases.real")).unwrap();
    symlink("../sentinel", app.join("releases")).unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(all(&out).contains("`releases` in the app directory is a symlink"), "{}", all(&out));
    sentinels.unchanged("releases as a link");
    std::fs::remove_file(app.join("releases")).unwrap();
    std::fs::rename(app.join("releases.real"), app.join("releases")).unwrap();

    // The shared path itself may be a link the operator placed (a volume
    // elsewhere): used as it is, never written through.
    std::fs::remove_dir_all(app.join("shared/log")).unwrap();
    symlink("../../sentinel/uploads", app.join("shared/log")).unwrap();
    let v2 = p.deploy();
    assert_ne!(v1, v2);
    assert_eq!(std::fs::read_link(app.join("current/log")).unwrap().display().to_string(), "../../shared/log");
    assert_eq!(std::fs::read_to_string(app.join("current/log/keep")).unwrap(), "precious\n");
    sentinels.unchanged("an operator's link at the shared path");
    // ... but not a link that leads to something else than a directory.
    std::fs::remove_file(app.join("shared/log")).unwrap();
    symlink("../../sentinel/x", app.join("shared/log")).unwrap();
    p.write("src/index.html", "v3\n");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(all(&out).contains("shared/log is a symlink that does not lead to a directory"), "{}", all(&out));
    sentinels.unchanged("a shared link to a file");
}

#[test]
fn odd_names_ship_intact_through_full_and_patched_stages() {
    let odd = ODD_NAMES;
    let p = Project::new(&config("shared = [\"it's $(touch pwned) \\\"q\\\"/\", \"-x/\"]", ""));
    let sentinels = Sentinels::new(&p);
    hostile::odd_tree(&p.path().join("src")).unwrap();
    let check = |id: &str| {
        for h in ["a", "b"] {
            let mut got = snapshot(&p.host(h).join("releases").join(id));
            // The shared links are the host's, not the tree's.
            got.retain(|(n, ..)| n != "it's $(touch pwned) \"q\"" && n != "-x");
            assert_eq!(got, snapshot(&p.path().join("src")), "{h}: the release differs from the tree");
            let link = std::fs::read_link(p.host(h).join("current/it's $(touch pwned) \"q\"")).unwrap();
            assert_eq!(link.display().to_string(), "../../shared/it's $(touch pwned) \"q\"");
            assert!(p.host(h).join("shared/it's $(touch pwned) \"q\"").is_dir());
            assert!(p.host(h).join("shared/-x").is_dir());
        }
    };
    let v1 = p.deploy();
    check(&v1);
    // Over a base: the record is patched with awk and checked with cksum.
    for (i, name) in odd.iter().enumerate() {
        if i % 2 == 0 {
            std::fs::write(p.path().join("src").join(name), format!("changed {i}\n")).unwrap();
        } else {
            std::fs::remove_file(p.path().join("src").join(format!("l {name}"))).unwrap();
        }
    }
    let v2 = p.deploy();
    check(&v2);
    nothing_ran(&p);
    sentinels.unchanged("odd names");
}

#[test]
fn names_that_are_not_utf8_are_refused_at_pack_time() {
    use std::os::unix::ffi::OsStrExt;
    let p = Project::new(&config("", ""));
    std::fs::write(p.path().join("src/assets").join(std::ffi::OsStr::from_bytes(b"caf\xe9.css")), "x").unwrap();
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(all(&out).contains("has a name that is not UTF-8; only UTF-8 names can ship"), "{}", all(&out));
    assert!(!p.host("a").exists());
}

#[test]
fn release_ids_built_to_break_quoting_are_refused_before_any_host_is_touched() {
    let p = Project::new(&config("", ""));
    let sentinels = Sentinels::new(&p);
    let bad = ["x; touch pwned", "../../tmp", "$(touch pwned)", "-rf", "20261123T190512.345Z-abc\nrm", ""];
    for id in bad {
        let (release, to) = (format!("--release={id}"), format!("--to={id}"));
        for args in [
            vec!["deploy", "app", "test", release.as_str()],
            vec!["plan", "app", "test", release.as_str()],
            vec!["rollback", "app", "test", to.as_str()],
            vec!["remove", "app", "test", "--", id],
        ] {
            let out = p.haul(&args).fails(2);
            assert!(out.stderr.contains("is not a release id"), "{args:?}: {}", out.stderr);
        }
    }
    assert!(!p.host("a").exists() && !p.path().join(".haul/hosts/b").exists(), "a host was touched");
    nothing_ran(&p);
    sentinels.unchanged("bad release ids");
}

#[test]
fn shared_paths_that_are_not_plain_are_refused_naming_file_line_and_field() {
    let cases = [
        ("a//b/", "shared path `a//b/` has an empty component (`//`); write `a/b/`"),
        ("log//", "shared path `log//` ends with more than one `/`; write `log/`"),
        ("a/./b", "shared path `a/./b` must be a relative path inside the release"),
        ("a/../../b", "shared path `a/../../b` must be a relative path inside the release"),
        ("/var/log", "shared path `/var/log` must be a relative path inside the release"),
        ("/", "shared path `/` must be a relative path inside the release"),
        ("a\\nb", "shared path `a\\nb` contains the control character '\\n'"),
        ("a\\tb/", "shared path `a\\tb/` contains the control character '\\t'"),
        (" log/", "shared path ` log/` has the name ` log`, which begins or ends with white space"),
    ];
    for (path, want) in cases {
        let p = Project::new(&config(&format!("shared = [\"{path}\"]"), ""));
        let out = p.haul(&["check"]).fails(2);
        assert!(out.stderr.contains(want), "{path:?}: {}", out.stderr);
        assert!(out.stderr.contains("haul.toml:3:11"), "{path:?}: {}", out.stderr);
        let out = p.haul(&["deploy", "app", "test"]).fails(2);
        assert!(out.stderr.contains(want), "{path:?}: {}", out.stderr);
        assert!(!p.path().join(".haul/hosts").exists());
    }
    let p = Project::new(&config("shared = [\"data/\", \"log/\", \"data/uploads/\"]", ""));
    let out = p.haul(&["check"]).fails(2);
    assert!(out.stderr.contains("shared path `data/uploads/` is inside shared path `data/`"), "{}", out.stderr);
    assert!(out.stderr.contains("haul.toml:3:28"), "{}", out.stderr);
}

#[test]
fn step_environment_values_built_to_break_quoting_arrive_intact() {
    // A host root and roles that are shell code if quoted wrong.
    let root = "hosts/it's $(touch pwned) \"q\" `x`";
    let toml = format!(
        r#"[apps.app]
ship = "src"
post_upload = ['printf "%s\n" "$HAUL_RELEASE_DIR" "$HAUL_ROLES" "$HAUL_HOST" > "$HAUL_RELEASE_DIR/../../env.out"']

[environments.test]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "{}"
roles = ["web;touch pwned", "$(touch pwned)"]
"#,
        root.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let p = Project::new(&toml);
    let sentinels = Sentinels::new(&p);
    let id = p.deploy();
    let app = p.path().join(root).join("app");
    let env = std::fs::read_to_string(app.join("env.out")).unwrap();
    let dir = std::fs::canonicalize(p.path()).unwrap().join(root).join("app/releases").join(&id);
    let want_dir =
        [dir.display().to_string(), p.path().join(root).join("app/releases").join(&id).display().to_string()];
    let lines: Vec<&str> = env.lines().collect();
    assert!(want_dir.contains(&lines[0].to_string()), "{env}");
    assert_eq!(&lines[1..], ["web;touch pwned,$(touch pwned)", "a"], "{env}");
    assert_eq!(std::fs::read_link(app.join("current")).unwrap().display().to_string(), format!("releases/{id}"));
    nothing_ran(&p);
    sentinels.unchanged("odd step environment");
}

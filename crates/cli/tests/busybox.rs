//! Hosts whose only tools are BusyBox's (which has no `cksum`): haul runs,
//! with `PATH` holding nothing but a directory of BusyBox applet links, so
//! every host script (and `sh` itself) is BusyBox's. The same again with
//! `dash` as `sh`, and with tools taken away, which must be named as
//! missing, never blamed on a damaged record.

mod common;

use common::{Project, config};
use std::path::{Path, PathBuf};

/// A directory of BusyBox applet links, minus `without`; `sh` is `dash`
/// when `dash` is set.
fn applets(dir: &Path, dash: bool, without: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = which("busybox");
    let list = std::process::Command::new(&busybox).arg("--list").output().expect("busybox runs");
    assert!(list.status.success());
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if !without.contains(&applet) {
            std::os::unix::fs::symlink(&busybox, bin.join(applet)).unwrap();
        }
    }
    assert!(!bin.join("cksum").exists(), "BusyBox has no cksum: the case this file is about");
    if dash {
        std::fs::remove_file(bin.join("sh")).unwrap();
        std::os::unix::fs::symlink(which("dash"), bin.join("sh")).unwrap();
    }
    bin
}

fn which(tool: &str) -> PathBuf {
    let out = std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
    let path = String::from_utf8(out.stdout).unwrap();
    assert!(!path.trim().is_empty(), "{tool} is not installed (scripts/test.sh installs it)");
    PathBuf::from(path.trim())
}

struct Minimal {
    p: Project,
    path: String,
    _tools: tempfile::TempDir,
}

impl Minimal {
    fn new(dash: bool, without: &[&str]) -> Minimal {
        let tools = tempfile::tempdir().unwrap();
        let bin = applets(tools.path(), dash, without);
        let p = Project::new(&config(r#"shared = ["log/", "config/app.env"]"#, ""));
        Minimal { p, path: bin.display().to_string(), _tools: tools }
    }

    fn haul(&self, args: &[&str]) -> common::Out {
        self.p.haul_env(args, &[("PATH", &self.path)])
    }

    fn deploy(&self) -> serde_json::Value {
        self.haul(&["deploy", "app", "test", "--json"]).ok().report()
    }
}

fn deploys_redeploys_rolls_back_and_prunes(dash: bool) {
    let m = Minimal::new(dash, &[]);
    let check = m.haul(&["check", "--hosts", "--json"]).ok().json();
    for host in check.as_array().unwrap() {
        assert_eq!(host["missing"], serde_json::json!([]), "{check}");
        assert_eq!(host["tools"]["cksum or sha256sum"], true, "{check}");
    }
    let first = m.deploy()["release"].as_str().unwrap().to_string();

    // One changed file: the incremental path, a patched record checked
    // without cksum.
    m.p.write("src/index.html", "<h1>v2</h1>\n");
    let report = m.deploy();
    let second = report["release"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    for h in report["hosts"].as_array().unwrap() {
        assert_eq!(h["stage"]["base"], first.as_str(), "{report}");
        assert_eq!(h["stage"]["sent_files"], 1, "{report}");
        assert_eq!(h["stage"]["reused_files"], 1, "{report}");
    }
    for h in ["a", "b"] {
        assert_eq!(m.p.live(h).as_deref(), Some(second.as_str()));
        let record = std::fs::read_to_string(m.p.host(h).join(format!("releases/{second}.manifest"))).unwrap();
        assert_eq!(haul_release::Release::from_lines(&record).unwrap().id, second, "the patched record is whole");
        assert_eq!(std::fs::read_to_string(m.p.host(h).join("current/index.html")).unwrap(), "<h1>v2</h1>\n");
        assert!(m.p.host(h).join("current/log").is_symlink());
    }

    m.haul(&["rollback", "app", "test"]).ok();
    for h in ["a", "b"] {
        assert_eq!(m.p.live(h).as_deref(), Some(first.as_str()));
    }
    m.haul(&["prune", "app", "test", "--keep", "1"]).ok();
    for h in ["a", "b"] {
        assert_eq!(m.p.releases(h), vec![first.clone()], "only the live release is kept");
    }
    let out = m.haul(&["releases", "app", "test"]).ok();
    assert!(out.stdout.contains(&format!("* {first}  (live)")), "{}", out.stdout);
}

#[test]
fn incremental_deploy_on_a_busybox_host_is_not_blamed_on_the_record() {
    deploys_redeploys_rolls_back_and_prunes(false);
}

#[test]
fn busybox_tools_under_dash_deploy_redeploy_roll_back_and_prune() {
    deploys_redeploys_rolls_back_and_prunes(true);
}

#[test]
fn a_missing_tool_is_named_as_missing_never_as_a_damaged_record() {
    for (without, named) in [(&["awk"][..], "awk"), (&["sha256sum"][..], "cksum or sha256sum")] {
        let m = Minimal::new(false, without);
        let check = m.haul(&["check", "--hosts"]).fails(1);
        assert!(check.stdout.contains("a: missing, so deploys cannot work there"), "{}", check.stdout);
        assert!(check.stdout.contains(&format!("\n  {named} (")), "{}", check.stdout);

        let first = m.deploy()["release"].as_str().unwrap().to_string();
        m.p.write("src/index.html", "<h1>v2</h1>\n");
        let out = m.haul(&["deploy", "app", "test"]).fails(1);
        assert!(out.stderr.contains(&format!("`{named}` is missing on this host; install it")), "{}", out.stderr);
        assert!(!out.stderr.contains("damaged"), "{}", out.stderr);
        assert!(!out.stderr.contains("haul remove"), "no destructive remedy for a missing tool: {}", out.stderr);
        for h in ["a", "b"] {
            assert_eq!(m.p.live(h).as_deref(), Some(first.as_str()), "nothing switched");
            assert_eq!(m.p.releases(h), vec![first.clone()], "nothing half-staged is left");
            assert!(!m.p.host(h).join(".haul/lock").exists());
        }
    }
}

#[test]
fn a_damaged_record_on_a_busybox_host_is_still_called_damaged() {
    let m = Minimal::new(false, &[]);
    let first = m.deploy()["release"].as_str().unwrap().to_string();
    let record = m.p.host("a").join(format!("releases/{first}.manifest"));
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, text.replace("app.css", "app.csz")).unwrap();
    m.p.write("src/index.html", "<h1>v2</h1>\n");
    let out = m.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("a: stage"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("the record of release {first} on this host is damaged")), "{}", out.stderr);
    assert_eq!(m.p.live("a").as_deref(), Some(first.as_str()));
}

#[test]
fn a_missing_command_in_any_host_script_is_named() {
    // Without `cp`, staging over a base cannot hard-link it: `sh` says
    // `cp: not found`, and haul says which tool, not "exit 127".
    let m = Minimal::new(false, &["cp"]);
    m.deploy();
    m.p.write("src/index.html", "<h1>v2</h1>\n");
    let out = m.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("`cp` is missing on this host"), "{}", out.stderr);
    let check = m.haul(&["check", "--hosts"]).fails(1);
    assert!(check.stdout.contains("\n  cp -l ("), "{}", check.stdout);
}

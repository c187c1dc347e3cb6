//! `haul man` writes a page for every command `haul --help` lists (and for
//! their subcommands), each a real roff page that documents its flags.

use std::path::Path;
use std::process::Command;

fn haul(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_haul")).args(args).env_remove("HAUL_CONFIG").output().unwrap();
    assert!(out.status.success(), "haul {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The command names under `Commands:` in a help text.
fn commands(help: &str) -> Vec<String> {
    let section = help.split("Commands:\n").nth(1).unwrap_or("");
    section
        .lines()
        .take_while(|l| !l.is_empty())
        // A wrapped description continues on a line indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_command_and_subcommand_has_a_man_page_documenting_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let listed = haul(&["man", dir.path().to_str().unwrap()]);
    let top = commands(&haul(&["--help"]));
    assert!(top.len() > 15, "{top:?}");
    let mut expected = vec!["haul".to_string()];
    for c in &top {
        expected.push(format!("haul-{c}"));
        for sub in commands(&haul(&[c, "--help"])) {
            expected.push(format!("haul-{c}-{sub}"));
        }
    }
    for name in &expected {
        let path = dir.path().join(format!("{name}.1"));
        assert!(listed.contains(&path.display().to_string()), "{name} not listed:\n{listed}");
        let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.starts_with(".ie") || page.contains(&format!(".TH {name}")), "{name}: {page:.200}");
        assert!(page.contains(".SH SYNOPSIS") && page.contains(".SH OPTIONS"), "{name}");
    }
    // A flag the binary has is on its page.
    let deploy = std::fs::read_to_string(dir.path().join("haul-deploy.1")).unwrap();
    assert!(deploy.contains("skip\\-unreachable"), "{deploy}");
    // Nothing else is written (no temporary files left behind).
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|n| format!("{n}.1")).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn a_man_directory_that_cannot_be_made_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let target = file.join("man");
    let out = Command::new(env!("CARGO_BIN_EXE_haul")).args(["man", target.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&target.display().to_string()));
    assert!(!Path::new(&target).exists());
}

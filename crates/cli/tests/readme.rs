//! The README's "Five minutes" work as written: its commands, read from
//! README.md itself so the two cannot drift, run in order in an empty
//! directory with the real binary and must each succeed.

use std::path::Path;
use std::process::{Command, Stdio};

/// The lines of the first `sh` block under `## Five minutes`.
fn five_minutes() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let section = readme.split("\n## Five minutes\n").nth(1).expect("README.md has a `## Five minutes` section");
    let block = section.split("```sh\n").nth(1).expect("the section has a ```sh block");
    let block = block.split("\n```").next().expect("the block ends");
    let lines: Vec<String> = block.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    assert!(lines.len() >= 6, "{lines:?}");
    lines
}

/// Runs one README line with `sh` in `dir`, the built `haul` first on PATH.
fn sh(dir: &Path, line: &str) -> (bool, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_haul")).parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("HAUL_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn live(dir: &Path, host: &str) -> String {
    let link = std::fs::read_link(dir.join(".haul/hosts").join(host).join("web/current")).expect("current");
    link.display().to_string()
}

#[test]
fn the_readmes_five_minutes_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut lives = Vec::new();
    for line in five_minutes() {
        let (ok, out) = sh(dir.path(), &line);
        assert!(ok, "`{line}` failed:\n{out}");
        if line.starts_with("haul deploy") || line.starts_with("haul rollback") {
            assert_eq!(live(dir.path(), "local-a"), live(dir.path(), "local-b"), "after `{line}`");
            lives.push(live(dir.path(), "local-a"));
        }
        if line.starts_with("haul status") {
            assert!(out.contains(lives.last().expect("deployed first").trim_start_matches("releases/")), "{out}");
        }
    }
    // Two deploys of different trees, then a rollback to the first.
    assert_eq!(lives.len(), 3, "{lives:?}");
    assert_ne!(lives[0], lives[1]);
    assert_eq!(lives[2], lives[0]);
}

#[test]
fn init_then_deploy_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = sh(dir.path(), "haul init");
    assert!(ok, "{out}");
    assert!(out.contains("wrote haul.toml and public/index.html"), "it says what it wrote: {out}");
    let (ok, out) = sh(dir.path(), "haul deploy web staging");
    assert!(ok, "{out}");
    let page = dir.path().join(".haul/hosts/local-a/web/current/index.html");
    assert_eq!(std::fs::read_to_string(page).unwrap(), haul_config::EXAMPLE_PAGE);
}

#[test]
fn init_never_overwrites_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::write(dir.path().join("public/app.js"), "mine\n").unwrap();
    let (ok, out) = sh(dir.path(), "haul init");
    assert!(ok, "{out}");
    assert!(out.contains("ships public/, which exists and was left as it is"), "{out}");
    assert!(!dir.path().join("public/index.html").exists(), "nothing added to the user's public/");
    let (ok, out) = sh(dir.path(), "haul deploy web staging");
    assert!(ok, "{out}");
    assert_eq!(std::fs::read_to_string(dir.path().join(".haul/hosts/local-a/web/current/app.js")).unwrap(), "mine\n");

    // A second init is refused; --force rewrites haul.toml only.
    std::fs::write(dir.path().join("haul.toml"), "# mine\n").unwrap();
    let (ok, out) = sh(dir.path(), "haul init");
    assert!(!ok && out.contains("haul.toml already exists; pass --force"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.path().join("haul.toml")).unwrap(), "# mine\n");
    let (ok, out) = sh(dir.path(), "haul init --force");
    assert!(ok, "{out}");
    assert_eq!(std::fs::read_to_string(dir.path().join("haul.toml")).unwrap(), haul_config::EXAMPLE);
    assert_eq!(std::fs::read_to_string(dir.path().join("public/app.js")).unwrap(), "mine\n");
}

//! What a user sees when `haul.toml` is wrong.
//!
//! Config errors are the first thing most people meet, and their wording, the
//! `--> path:line:col` pointer and the underline are the whole user interface
//! of validation. These tests run the real binary as
//! `haul --config <tmp>/haul.toml check` against one malformed config per case
//! and pin the exit code (2: bad config) and the exact stderr, kept as an
//! `insta` snapshot per case under `snapshots/` (its description is the
//! config), so any change to a message or a span shows up as a readable
//! diff. A changed or missing snapshot fails the test; in CI (`CI=true`)
//! nothing is written, elsewhere the new text lands beside it as `.snap.new`
//! for `cargo insta review` (or rerun with `INSTA_UPDATE=always` and read
//! the diff).
//!
//! The temp dir differs on every run, so it is replaced by `[DIR]` in stderr
//! before comparing. Cases are written flush left; the one leading newline of
//! each raw string is dropped so line numbers match what you read. The cases
//! are grouped by what they break: `shape` (caught while deserializing),
//! `apps`, `environments` (and hosts) and `webhooks`; finding the file is
//! here.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `haul --config <dir>/haul.toml check` on `toml` and returns the exit
/// code and stderr with the temp dir replaced by `[DIR]`.
fn check(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("haul.toml");
    std::fs::write(&path, toml).expect("the config is written");
    let out = haul(dir.path()).arg("--config").arg(&path).arg("check").output().expect("haul runs");
    result(&out, dir.path())
}

/// `haul` with a clean environment for config lookup, run in `cwd`.
fn haul(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haul"));
    cmd.current_dir(cwd).env_remove("HAUL_CONFIG");
    cmd
}

fn result(out: &Output, dir: &Path) -> (i32, String) {
    let code = out.status.code().expect("haul exits with a code");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&*dir.to_string_lossy(), "[DIR]");
    (code, stderr)
}

/// Drops the one newline that follows an opening `r#"`.
fn text(s: &str) -> &str {
    s.strip_prefix('\n').unwrap_or(s)
}

/// Asserts that `toml` is rejected with exit code 2 and that its stderr is
/// exactly the test's snapshot (`snapshots/config_errors__<test>.snap`,
/// whose description is the config): a macro, so the snapshot is named
/// after the test it stands in.
macro_rules! rejects {
    ($toml:expr) => {{
        let toml = $crate::text($toml);
        let (code, stderr) = $crate::check(toml);
        assert_eq!(code, 2, "{stderr}");
        // insta compares with the end trimmed: the text ends in one newline.
        assert!(stderr.ends_with('\n') && !stderr.ends_with("\n\n"), "{stderr:?}");
        insta::with_settings!({ description => toml, omit_expression => true }, {
            insta::assert_snapshot!(stderr);
        });
    }};
}

mod apps;
mod content;
mod environments;
mod pull;
mod secrets;
mod shape;
mod tokens;
mod webhooks;

// ---------------------------------------------------------------------------
// Finding the file
// ---------------------------------------------------------------------------

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out =
        haul(dir.path()).arg("--config").arg(dir.path().join("nope.toml")).arg("check").output().expect("haul runs");
    assert_eq!(
        result(&out, dir.path()),
        (
            2,
            "error: cannot read [DIR]/nope.toml: no such file (create one with `haul init`, or name one with --config or HAUL_CONFIG)\n"
                .to_string()
        )
    );
}

#[test]
fn haul_config_env_var_selects_the_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Neither the default `./haul.toml` nor `--config` points here, so an
    // error about this file proves `HAUL_CONFIG` was read.
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, "[apps.web]\nkeep = 0\n").expect("the config is written");
    let out = haul(dir.path()).env("HAUL_CONFIG", &path).arg("check").output().expect("haul runs");
    assert_eq!(
        result(&out, dir.path()),
        (
            2,
            text(
                r#"
error: missing field `ship`
 --> [DIR]/custom.toml:1:1
  |
1 | [apps.web]
  | ^^^^^^^^^^
"#
            )
            .to_string()
        )
    );
}

#[test]
fn batch_without_a_rolling_rollout() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
batch = 2

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn batch_percentage_out_of_range() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
rollout = "rolling"
batch = "150%"

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn canary_of_zero_hosts() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
rollout = "rolling"
canary = 0

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn invalid_when_changed_glob() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.migrate]
when_changed = ["db/[x"]
"#
    );
}

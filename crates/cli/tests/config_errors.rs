//! What a user sees when `haul.toml` is wrong.
//!
//! Config errors are the first thing most people meet, and their wording, the
//! `--> path:line:col` pointer and the underline are the whole user interface
//! of validation. These tests run the real binary as
//! `haul --config <tmp>/haul.toml check` against one malformed config per case
//! and pin the exit code (2: bad config) and the exact stderr, so any change to
//! a message or a span shows up here as a readable diff.
//!
//! The temp dir differs on every run, so it is replaced by `[DIR]` in stderr
//! before comparing. Cases are written flush left; the one leading newline of
//! each raw string is dropped so line numbers match what you read.

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

/// Asserts that `toml` is rejected with exit code 2 and exactly `stderr`.
#[track_caller]
fn rejects(toml: &str, stderr: &str) {
    assert_eq!(check(text(toml)), (2, text(stderr).to_string()));
}

// ---------------------------------------------------------------------------
// Syntax and shape (caught while deserializing)
// ---------------------------------------------------------------------------

#[test]
fn toml_syntax_error() {
    rejects(
        r#"
[apps.web]
ship = "dist
"#,
        r#"
error: invalid basic string, expected `"`
 --> [DIR]/haul.toml:2:13
  |
2 | ship = "dist
  |             ^
"#,
    );
}

#[test]
fn duplicate_key() {
    rejects(
        r#"
[apps.web]
ship = "dist"
ship = "out"
"#,
        r#"
error: duplicate key
 --> [DIR]/haul.toml:3:1
  |
3 | ship = "out"
  | ^^^^
"#,
    );
}

#[test]
fn unknown_top_level_key() {
    rejects(
        r#"
colour = "red"

[apps.web]
ship = "dist"
"#,
        r#"
error: unknown field `colour`, expected one of `cache`, `ledger`, `server`, `lock`, `ssh`, `apps`, `environments`, `hosts`, `webhooks`
 --> [DIR]/haul.toml:1:1
  |
1 | colour = "red"
  | ^^^^^^
"#,
    );
}

#[test]
fn unknown_key_in_app() {
    rejects(
        r#"
[apps.web]
ship = "dist"
kep = 3
"#,
        r#"
error: unknown field `kep`, expected one of `build`, `workdir`, `ship`, `keep`, `shared`, `path`, `roles`, `post_upload`, `service`, `migrate`, `hooks`, `health`
 --> [DIR]/haul.toml:3:1
  |
3 | kep = 3
  | ^^^
"#,
    );
}

#[test]
fn unknown_key_in_environment() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
failover = "halt"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: unknown field `failover`, expected one of `hosts`, `code`, `content`, `failure`, `rollout`, `batch`, `canary`, `pause`, `requires`, `webhooks`
 --> [DIR]/haul.toml:3:1
  |
3 | failover = "halt"
  | ^^^^^^^^
"#,
    );
}

#[test]
fn unknown_key_in_host() {
    rejects(
        r#"
[hosts.a]
transport = "local"
root = "hosts/a"
rolls = ["web"]
"#,
        r#"
error: unknown field `rolls`, expected one of `transport`, `root`, `address`, `user`, `port`, `jump`, `roles`, `labels`
 --> [DIR]/haul.toml:4:1
  |
4 | rolls = ["web"]
  | ^^^^^
"#,
    );
}

#[test]
fn unknown_key_in_step_table() {
    rejects(
        r#"
[apps.web]
ship = "dist"
build = [{ run = "make", lcoal = true }]
"#,
        r#"
error: unknown field `lcoal`, expected one of `run`, `name`, `local`, `roles`
 --> [DIR]/haul.toml:3:26
  |
3 | build = [{ run = "make", lcoal = true }]
  |                          ^^^^^
"#,
    );
}

#[test]
fn unknown_hook() {
    rejects(
        r#"
[apps.web]
ship = "dist"

[apps.web.hooks]
after_deploy = ["x"]
"#,
        r#"
error: unknown field `after_deploy`, expected one of `before_stage`, `after_stage`, `before_migrate`, `after_migrate`, `before_switch`, `after_switch`, `before_verify`, `after_verify`
 --> [DIR]/haul.toml:5:1
  |
5 | after_deploy = ["x"]
  | ^^^^^^^^^^^^
"#,
    );
}

#[test]
fn step_of_wrong_type() {
    rejects(
        r#"
[apps.web]
ship = "dist"
build = [1]
"#,
        r#"
error: invalid type: integer `1`, expected a command string or a table with `run`
 --> [DIR]/haul.toml:3:10
  |
3 | build = [1]
  |          ^
"#,
    );
}

#[test]
fn missing_ship() {
    rejects(
        r#"
[apps.web]
build = ["make"]
"#,
        r#"
error: missing field `ship`
 --> [DIR]/haul.toml:1:1
  |
1 | [apps.web]
  | ^^^^^^^^^^
"#,
    );
}

#[test]
fn keep_wrong_type() {
    rejects(
        r#"
[apps.web]
ship = "dist"
keep = "five"
"#,
        r#"
error: invalid type: string "five", expected u32
 --> [DIR]/haul.toml:3:8
  |
3 | keep = "five"
  |        ^^^^^^
"#,
    );
}

#[test]
fn bad_duration_in_lock_stale_after() {
    rejects(
        r#"
[lock]
stale_after = "an hour"
"#,
        r#"
error: invalid duration `an hour`: write it like "30s", "5m" or "2h"
 --> [DIR]/haul.toml:2:15
  |
2 | stale_after = "an hour"
  |               ^^^^^^^^^
"#,
    );
}

#[test]
fn unknown_failure_policy() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
failure = "ignore"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: unknown variant `ignore`, expected one of `rollback`, `halt`, `continue`
 --> [DIR]/haul.toml:3:11
  |
3 | failure = "ignore"
  |           ^^^^^^^^
"#,
    );
}

#[test]
fn unknown_transport() {
    rejects(
        r#"
[hosts.a]
transport = "ftp"
"#,
        r#"
error: unknown variant `ftp`, expected `ssh` or `local`
 --> [DIR]/haul.toml:2:13
  |
2 | transport = "ftp"
  |             ^^^^^
"#,
    );
}

#[test]
fn jump_of_wrong_type() {
    rejects(
        r#"
[hosts.a]
jump = 3
"#,
        r#"
error: invalid type: integer `3`, expected a host name or a list of host names, nearest first
 --> [DIR]/haul.toml:2:8
  |
2 | jump = 3
  |        ^
"#,
    );
}

#[test]
fn port_out_of_range() {
    rejects(
        r#"
[hosts.a]
address = "10.0.0.1"
port = 70000
"#,
        r#"
error: invalid value: integer `70000`, expected u16
 --> [DIR]/haul.toml:3:8
  |
3 | port = 70000
  |        ^^^^^
"#,
    );
}

// ---------------------------------------------------------------------------
// Apps (caught by validation)
// ---------------------------------------------------------------------------

#[test]
fn keep_zero() {
    rejects(
        r#"
[apps.web]
ship = "dist"
keep = 0
"#,
        r#"
error: `keep` must be at least 1
 --> [DIR]/haul.toml:3:8
  |
3 | keep = 0
  |        ^
"#,
    );
}

#[test]
fn blank_ship() {
    rejects(
        r#"
[apps.web]
ship = " "
"#,
        r#"
error: `ship` must name a directory
 --> [DIR]/haul.toml:2:8
  |
2 | ship = " "
  |        ^^^
"#,
    );
}

#[test]
fn bad_app_name() {
    rejects(
        r#"
[apps."my app"]
ship = "dist"
"#,
        r#"
error: app name `my app` may only use letters, digits, `-`, `_` and `.`, and must start with a letter or digit
 --> [DIR]/haul.toml:1:7
  |
1 | [apps."my app"]
  |       ^^^^^^^^
"#,
    );
}

#[test]
fn shared_path_with_dotdot() {
    rejects(
        r#"
[apps.web]
ship = "dist"
shared = ["log/", "../secrets"]
"#,
        r#"
error: shared path `../secrets` must be a relative path inside the release, without `.` or `..`
 --> [DIR]/haul.toml:3:19
  |
3 | shared = ["log/", "../secrets"]
  |                   ^^^^^^^^^^^^
"#,
    );
}

#[test]
fn absolute_shared_path() {
    rejects(
        r#"
[apps.web]
ship = "dist"
shared = ["/var/log"]
"#,
        r#"
error: shared path `/var/log` must be a relative path inside the release, without `.` or `..`
 --> [DIR]/haul.toml:3:11
  |
3 | shared = ["/var/log"]
  |           ^^^^^^^^^^
"#,
    );
}

#[test]
fn health_check_with_command_and_http() {
    rejects(
        r#"
[apps.web]
ship = "dist"

[[apps.web.health]]
command = "true"
http = "http://{host}/health"
"#,
        r#"
error: a health check has either `command` or `http`, not both
 --> [DIR]/haul.toml:4:1
  |
4 | [[apps.web.health]]
  | ^^^^^^^^^^^^^^^^^^^
"#,
    );
}

#[test]
fn health_check_with_neither_command_nor_http() {
    rejects(
        r#"
[apps.web]
ship = "dist"

[[apps.web.health]]
name = "ping"
"#,
        r#"
error: a health check needs `command` or `http`
 --> [DIR]/haul.toml:4:1
  |
4 | [[apps.web.health]]
  | ^^^^^^^^^^^^^^^^^^^
"#,
    );
}

#[test]
fn app_roles_name_a_role_no_host_has() {
    rejects(
        r#"
[apps.web]
ship = "dist"
roles = ["wbe"]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#,
        r#"
error: app `web` names role `wbe`, which no host has
 --> [DIR]/haul.toml:3:10
  |
3 | roles = ["wbe"]
  |          ^^^^^
"#,
    );
}

#[test]
fn migrate_role_no_host_has() {
    rejects(
        r#"
[apps.web]
ship = "dist"

[apps.web.migrate]
role = "db"

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#,
        r#"
error: `migrate.role` names role `db`, which no host has
 --> [DIR]/haul.toml:5:8
  |
5 | role = "db"
  |        ^^^^
"#,
    );
}

/// Step `roles` are NOT checked against the hosts' roles today: a typo makes
/// the step silently run nowhere. This pins the current behaviour (the config
/// is accepted); when validation learns about step roles, turn this into a
/// `rejects` case.
#[test]
fn step_roles_name_a_role_no_host_has() {
    rejects(
        r#"
[apps.web]
ship = "dist"
post_upload = [{ run = "make", roles = ["wbe"] }]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#,
        r#"
error: a step names role `wbe`, which no host has
 --> [DIR]/haul.toml:3:41
  |
3 | post_upload = [{ run = "make", roles = ["wbe"] }]
  |                                         ^^^^^
"#,
    );
}

#[test]
fn build_steps_take_no_roles() {
    rejects(
        r#"
[apps.web]
ship = "dist"
build = [{ run = "make", roles = ["web"] }]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#,
        r#"
error: build steps run on this machine; `roles` does not apply to them
 --> [DIR]/haul.toml:3:35
  |
3 | build = [{ run = "make", roles = ["web"] }]
  |                                   ^^^^^
"#,
    );
}

// ---------------------------------------------------------------------------
// Environments
// ---------------------------------------------------------------------------

#[test]
fn unknown_environment_in_code() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
code = "staging"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: `code` must be "build" or an environment's name; there is no environment `staging`
 --> [DIR]/haul.toml:3:8
  |
3 | code = "staging"
  |        ^^^^^^^^^
"#,
    );
}

#[test]
fn environment_takes_code_from_itself() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
code = "prod"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: environment `prod` cannot take its code from itself
 --> [DIR]/haul.toml:3:8
  |
3 | code = "prod"
  |        ^^^^^^
"#,
    );
}

#[test]
fn code_cycle_between_two_environments() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
code = "staging"

[environments.staging]
hosts = ["a"]
code = "prod"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: environments take their code from each other in a cycle: prod → staging → prod
 --> [DIR]/haul.toml:3:8
  |
3 | code = "staging"
  |        ^^^^^^^^^
"#,
    );
}

#[test]
fn content_cycle_between_two_environments() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
content = "staging"

[environments.staging]
hosts = ["a"]
content = "prod"

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: environments take their content from each other in a cycle: prod → staging → prod
 --> [DIR]/haul.toml:3:11
  |
3 | content = "staging"
  |           ^^^^^^^^^
"#,
    );
}

#[test]
fn unknown_host_in_environment() {
    rejects(
        r#"
[environments.prod]
hosts = ["a", "b"]

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: unknown host `b` (hosts are defined in [hosts])
 --> [DIR]/haul.toml:2:15
  |
2 | hosts = ["a", "b"]
  |               ^^^
"#,
    );
}

#[test]
fn host_listed_twice() {
    rejects(
        r#"
[environments.prod]
hosts = ["a", "a"]

[hosts.a]
transport = "local"
root = "hosts/a"
"#,
        r#"
error: host `a` is listed twice
 --> [DIR]/haul.toml:2:15
  |
2 | hosts = ["a", "a"]
  |               ^^^
"#,
    );
}

#[test]
fn environment_with_no_hosts() {
    rejects(
        r#"
[environments.prod]
hosts = []
"#,
        r#"
error: environment `prod` has no hosts
 --> [DIR]/haul.toml:1:15
  |
1 | [environments.prod]
  |               ^^^^
"#,
    );
}

#[test]
fn environment_without_hosts_key() {
    rejects(
        r#"
[environments.prod]
code = "build"
"#,
        r#"
error: missing field `hosts`
 --> [DIR]/haul.toml:1:1
  |
1 | [environments.prod]
  | ^^^^^^^^^^^^^^^^^^^
"#,
    );
}

// ---------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------

#[test]
fn local_host_without_root() {
    rejects(
        r#"
[hosts.a]
transport = "local"
"#,
        r#"
error: local host `a` needs a `root` directory
 --> [DIR]/haul.toml:1:8
  |
1 | [hosts.a]
  |        ^
"#,
    );
}

#[test]
fn address_on_local_host() {
    rejects(
        r#"
[hosts.a]
transport = "local"
root = "hosts/a"
address = "10.0.0.1"
"#,
        r#"
error: `address` does not apply to a local host
 --> [DIR]/haul.toml:4:11
  |
4 | address = "10.0.0.1"
  |           ^^^^^^^^^^
"#,
    );
}

#[test]
fn port_zero() {
    rejects(
        r#"
[hosts.a]
address = "10.0.0.1"
port = 0
"#,
        r#"
error: `port` must be between 1 and 65535
 --> [DIR]/haul.toml:3:8
  |
3 | port = 0
  |        ^
"#,
    );
}

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
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
batch = 2

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: `batch` applies to a rolling rollout; add `rollout = "rolling"`
 --> [DIR]/haul.toml:3:9
  |
3 | batch = 2
  |         ^
"#,
    );
}

#[test]
fn batch_percentage_out_of_range() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
rollout = "rolling"
batch = "150%"

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: `150%` is not a percentage from 1% to 100%
 --> [DIR]/haul.toml:4:9
  |
4 | batch = "150%"
  |         ^^^^^^
"#,
    );
}

#[test]
fn canary_of_zero_hosts() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]
rollout = "rolling"
canary = 0

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: `canary` must be at least 1 host
 --> [DIR]/haul.toml:4:10
  |
4 | canary = 0
  |          ^
"#,
    );
}

#[test]
fn invalid_when_changed_glob() {
    rejects(
        r#"
[apps.web]
ship = "d"

[apps.web.migrate]
when_changed = ["db/[x"]
"#,
        r#"
error: `db/[x` is not a valid glob: Pattern syntax error near position 3: invalid range pattern
 --> [DIR]/haul.toml:5:17
  |
5 | when_changed = ["db/[x"]
  |                 ^^^^^^^
"#,
    );
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

#[test]
fn webhook_with_an_unknown_key() {
    rejects(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
secret = "whsec_abc"
"#,
        r#"
error: unknown field `secret`, expected one of `url`, `secret_env`, `events`, `environments`, `attempts`, `backoff`, `timeout`
 --> [DIR]/haul.toml:4:1
  |
4 | secret = "whsec_abc"
  | ^^^^^^
"#,
    );
}

#[test]
fn webhook_with_an_unknown_event() {
    rejects(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
events = ["deployment.*", "deploy.done"]
"#,
        r#"
error: webhook `chat`: unknown event `deploy.done` (events: release.registered, deployment.started, deployment.succeeded, deployment.failed, deployment.switched_back, deployment.undone, deployment.forced, host.result, verification.reported, approval.recorded, quarantine.added; or a prefix like `deployment.*`, or `*`)
 --> [DIR]/haul.toml:4:27
  |
4 | events = ["deployment.*", "deploy.done"]
  |                           ^^^^^^^^^^^^^
"#,
    );
}

#[test]
fn webhook_url_must_be_http() {
    rejects(
        r#"
[webhooks.chat]
url = "ftp://chat.example/hook"
secret_env = "CHAT_SECRET"
"#,
        r#"
error: webhook `chat`: `url` must be an http:// or https:// URL with a host
 --> [DIR]/haul.toml:2:7
  |
2 | url = "ftp://chat.example/hook"
  |       ^^^^^^^^^^^^^^^^^^^^^^^^^
"#,
    );
}

#[test]
fn webhook_secret_in_the_file() {
    rejects(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#,
        r#"
error: webhook `chat`: `secret_env` names the environment variable holding the secret (like `HOOK_SECRET`), not the secret
 --> [DIR]/haul.toml:3:14
  |
3 | secret_env = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
  |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
"#,
    );
}

#[test]
fn webhook_for_an_unknown_environment() {
    rejects(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
environments = ["prod", "staging"]

[environments.prod]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: webhook `chat`: there is no environment `staging`
 --> [DIR]/haul.toml:4:25
  |
4 | environments = ["prod", "staging"]
  |                         ^^^^^^^^^
"#,
    );
}

#[test]
fn environment_webhook_with_environments() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]

[environments.prod.webhooks.pager]
url = "http://pager.example/in"
secret_env = "PAGER_SECRET"
environments = ["prod"]

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: webhook `pager` belongs to an environment; `environments` applies to top-level webhooks only
 --> [DIR]/haul.toml:7:16
  |
7 | environments = ["prod"]
  |                ^^^^^^^^
"#,
    );
}

#[test]
fn webhook_with_zero_attempts() {
    rejects(
        r#"
[environments.prod]
hosts = ["a"]

[environments.prod.webhooks.pager]
url = "http://pager.example/in"
secret_env = "PAGER_SECRET"
attempts = 0

[hosts.a]
transport = "local"
root = "a"
"#,
        r#"
error: webhook `pager`: `attempts` must be at least 1
 --> [DIR]/haul.toml:7:12
  |
7 | attempts = 0
  |            ^
"#,
    );
}

#[test]
fn webhook_name_with_a_dot() {
    rejects(
        r#"
[webhooks."chat.ops"]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
"#,
        r#"
error: webhook name `chat.ops` may only use letters, digits, `-` and `_`, and must start with a letter or digit
 --> [DIR]/haul.toml:1:11
  |
1 | [webhooks."chat.ops"]
  |           ^^^^^^^^^^
"#,
    );
}

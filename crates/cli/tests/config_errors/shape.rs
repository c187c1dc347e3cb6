//! Syntax and shape: what is caught while deserializing `haul.toml`.

#[test]
fn toml_syntax_error() {
    rejects!(
        r#"
[apps.web]
ship = "dist
"#
    );
}

#[test]
fn duplicate_key() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
ship = "out"
"#
    );
}

#[test]
fn unknown_top_level_key() {
    rejects!(
        r#"
colour = "red"

[apps.web]
ship = "dist"
"#
    );
}

#[test]
fn unknown_key_in_app() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
kep = 3
"#
    );
}

#[test]
fn unknown_key_in_environment() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
failover = "halt"

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn unknown_key_in_host() {
    rejects!(
        r#"
[hosts.a]
transport = "local"
root = "hosts/a"
rolls = ["web"]
"#
    );
}

#[test]
fn unknown_key_in_step_table() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
build = [{ run = "make", lcoal = true }]
"#
    );
}

#[test]
fn unknown_hook() {
    rejects!(
        r#"
[apps.web]
ship = "dist"

[apps.web.hooks]
after_deploy = ["x"]
"#
    );
}

#[test]
fn step_of_wrong_type() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
build = [1]
"#
    );
}

#[test]
fn missing_ship() {
    rejects!(
        r#"
[apps.web]
build = ["make"]
"#
    );
}

#[test]
fn keep_wrong_type() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
keep = "five"
"#
    );
}

#[test]
fn bad_duration_in_lock_stale_after() {
    rejects!(
        r#"
[lock]
stale_after = "an hour"
"#
    );
}

#[test]
fn unknown_failure_policy() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
failure = "ignore"

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn unknown_transport() {
    rejects!(
        r#"
[hosts.a]
transport = "ftp"
"#
    );
}

#[test]
fn jump_of_wrong_type() {
    rejects!(
        r#"
[hosts.a]
jump = 3
"#
    );
}

#[test]
fn port_out_of_range() {
    rejects!(
        r#"
[hosts.a]
address = "10.0.0.1"
port = 70000
"#
    );
}

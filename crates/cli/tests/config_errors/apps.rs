//! Apps: what validation refuses in `[apps.*]`.

#[test]
fn keep_zero() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
keep = 0
"#
    );
}

#[test]
fn blank_ship() {
    rejects!(
        r#"
[apps.web]
ship = " "
"#
    );
}

#[test]
fn bad_app_name() {
    rejects!(
        r#"
[apps."my app"]
ship = "dist"
"#
    );
}

#[test]
fn shared_path_with_dotdot() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
shared = ["log/", "../secrets"]
"#
    );
}

#[test]
fn absolute_shared_path() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
shared = ["/var/log"]
"#
    );
}

#[test]
fn health_check_with_command_and_http() {
    rejects!(
        r#"
[apps.web]
ship = "dist"

[[apps.web.health]]
command = "true"
http = "http://{host}/health"
"#
    );
}

#[test]
fn health_check_with_neither_command_nor_http() {
    rejects!(
        r#"
[apps.web]
ship = "dist"

[[apps.web.health]]
name = "ping"
"#
    );
}

#[test]
fn app_roles_name_a_role_no_host_has() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
roles = ["wbe"]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#
    );
}

#[test]
fn migrate_role_no_host_has() {
    rejects!(
        r#"
[apps.web]
ship = "dist"

[apps.web.migrate]
role = "db"

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#
    );
}

/// Step `roles` are NOT checked against the hosts' roles today: a typo makes
/// the step silently run nowhere. This pins the current behaviour (the config
/// is accepted); when validation learns about step roles, turn this into a
/// `rejects` case.
#[test]
fn step_roles_name_a_role_no_host_has() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
post_upload = [{ run = "make", roles = ["wbe"] }]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#
    );
}

#[test]
fn build_steps_take_no_roles() {
    rejects!(
        r#"
[apps.web]
ship = "dist"
build = [{ run = "make", roles = ["web"] }]

[hosts.a]
transport = "local"
root = "hosts/a"
roles = ["web"]
"#
    );
}

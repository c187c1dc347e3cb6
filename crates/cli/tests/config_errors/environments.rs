//! Environments and hosts: what validation refuses in `[environments.*]` and `[hosts.*]`.

#[test]
fn unknown_environment_in_code() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
code = "staging"

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn environment_takes_code_from_itself() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
code = "prod"

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn code_cycle_between_two_environments() {
    rejects!(
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
"#
    );
}

#[test]
fn content_cycle_between_two_environments() {
    rejects!(
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
"#
    );
}

#[test]
fn unknown_host_in_environment() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a", "b"]

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn host_listed_twice() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a", "a"]

[hosts.a]
transport = "local"
root = "hosts/a"
"#
    );
}

#[test]
fn environment_with_no_hosts() {
    rejects!(
        r#"
[environments.prod]
hosts = []
"#
    );
}

#[test]
fn environment_without_hosts_key() {
    rejects!(
        r#"
[environments.prod]
code = "build"
"#
    );
}

#[test]
fn local_host_without_root() {
    rejects!(
        r#"
[hosts.a]
transport = "local"
"#
    );
}

#[test]
fn address_on_local_host() {
    rejects!(
        r#"
[hosts.a]
transport = "local"
root = "hosts/a"
address = "10.0.0.1"
"#
    );
}

#[test]
fn port_zero() {
    rejects!(
        r#"
[hosts.a]
address = "10.0.0.1"
port = 0
"#
    );
}

#[test]
fn host_root_that_begins_with_a_dash() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]

[hosts.a]
address = "127.0.0.2"
root = "-rf"
"#
    );
}

//! Pull deploys: `[store]`, `[keys]` and what a `mode = "pull"`
//! environment may and may not say.

#[test]
fn store_url_with_an_unknown_scheme() {
    rejects!(
        r#"
[store]
url = "ftp://example.com/releases"
"#
    );
}

#[test]
fn store_endpoint_over_plain_http_without_allow_http() {
    rejects!(
        r#"
[store]
url = "s3://bucket/haul"
endpoint = "http://127.0.0.1:9000"
"#
    );
}

#[test]
fn blessing_that_expires_at_once() {
    rejects!(
        r#"
[keys]
sign = ["keys/release.key"]
expires = "0s"
"#
    );
}

#[test]
fn trust_threshold_above_the_keys_trusted() {
    rejects!(
        r#"
[keys]
trust = ["keys/a.pub"]
threshold = 2
"#
    );
}

#[test]
fn unknown_mode() {
    rejects!(
        r#"
[environments.prod]
mode = "poll"
"#
    );
}

#[test]
fn waves_on_a_push_environment() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
waves = [{ name = "canary", roles = ["web"] }]

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn follow_timeout_on_a_push_environment() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
timeout = "5m"

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn report_keys_on_a_push_environment() {
    rejects!(
        r#"
[environments.prod]
hosts = ["a"]
report_keys = ["keys/agents.pub"]

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn report_key_with_an_empty_path() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
report_keys = ["keys/agents.pub", " "]
"#
    );
}

#[test]
fn rolling_rollout_on_a_pull_environment() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
rollout = "rolling"
"#
    );
}

#[test]
fn canary_on_a_pull_environment() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
canary = 1
"#
    );
}

#[test]
fn wave_named_twice() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [
  { name = "first", roles = ["canary"] },
  { name = "first", percent = 50 },
]
"#
    );
}

#[test]
fn wave_with_roles_and_a_percentage() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "canary", roles = ["canary"], percent = 10 }]
"#
    );
}

#[test]
fn wave_percentage_out_of_range() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "half", percent = 150 }]
"#
    );
}

#[test]
fn wave_min_live_of_zero() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "canary", roles = ["canary"], min_live = 0 }]
"#
    );
}

#[test]
fn wave_after_the_rest() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "rest" }, { name = "late", roles = ["web"] }]
"#
    );
}

#[test]
fn wave_with_an_unknown_field() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "canary", hosts = ["a"] }]
"#
    );
}

#[test]
fn wave_name_that_is_not_a_plain_name() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "../x" }]
"#
    );
}

#[test]
fn push_environment_without_hosts() {
    rejects!(
        r#"
[environments.prod]
mode = "push"
"#
    );
}

#[test]
fn package_script_outside_the_release() {
    rejects!(
        r#"
[apps.web]
ship = "public"
scripts = { pre_jump = "../../bin/evil.sh" }
"#
    );
}

#[test]
fn package_script_read_as_an_option() {
    rejects!(
        r#"
[apps.web]
ship = "public"
scripts = { post_sync = "-x" }
"#
    );
}

#[test]
fn unknown_package_script() {
    rejects!(
        r#"
[apps.web]
ship = "public"
scripts = { post_deploy = "x.sh" }
"#
    );
}

#[test]
fn migrate_once_role_outside_the_first_wave() {
    rejects!(
        r#"
[apps.web]
ship = "public"
migrate = { once = ["./migrate"], role = "db" }

[environments.prod]
mode = "pull"
hosts = []
waves = [{ name = "canary", roles = ["canary"] }, { name = "db", roles = ["db"] }]
"#
    );
}

#[test]
fn role_that_neither_a_host_nor_a_pull_wave_names() {
    rejects!(
        r#"
[apps.web]
ship = "public"
roles = ["wbe"]

[environments.prod]
mode = "pull"
hosts = []
waves = [{ name = "canary", roles = ["canary"] }, { name = "rest" }]
"#
    );
}

#[test]
fn wave_verification_name_the_store_cannot_hold() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [
  { name = "canary", roles = ["canary"], verifications = ["smoke test"] },
  { name = "rest" },
]
"#
    );
}

#[test]
fn wave_verification_named_twice() {
    rejects!(
        r#"
[environments.prod]
mode = "pull"
waves = [{ name = "canary", roles = ["canary"], verifications = ["smoke", "smoke"] }]
"#
    );
}

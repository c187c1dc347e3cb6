//! Secret files: what validation refuses in `[apps.<app>.secrets]`.

/// The head of every case: an app and one environment on a local host.
macro_rules! with_env {
    ($rest:literal) => {
        concat!(
            r#"
[apps.web]
ship = "d"

[environments.prod]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "a"
"#,
            $rest
        )
    };
}

#[test]
fn secret_with_an_absolute_path() {
    rejects!(with_env!(
        r#"
[apps.web.secrets."/etc/app.env"]
from.prod = { env = "APP_ENV" }
"#
    ));
}

#[test]
fn secret_that_climbs_out_of_shared() {
    rejects!(with_env!(
        r#"
[apps.web.secrets."config/../../.ssh/authorized_keys"]
from.prod = { env = "KEYS" }
"#
    ));
}

#[test]
fn secret_with_an_empty_path() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.""]
from.prod = { env = "APP_ENV" }
"#
    ));
}

#[test]
fn secret_named_like_a_temporary_file() {
    rejects!(with_env!(
        r#"
[apps.web.secrets."config/.db.haul-secret"]
from.prod = { env = "A" }
"#
    ));
}

#[test]
fn secret_inside_another_secret() {
    rejects!(with_env!(
        r#"
[apps.web.secrets."config"]
from.prod = { env = "A" }

[apps.web.secrets."config/db.yml"]
from.prod = { env = "B" }
"#
    ));
}

#[test]
fn secret_where_a_shared_directory_is() {
    rejects!(
        r#"
[apps.web]
ship = "d"
shared = ["config/"]

[apps.web.secrets."config"]
from.prod = { env = "A" }

[environments.prod]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn secret_source_of_two_kinds() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { env = "APP_ENV", file = "secrets/prod.env" }
"#
    ));
}

#[test]
fn secret_source_of_no_kind() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = {}
"#
    ));
}

#[test]
fn secret_silent_about_an_environment() {
    rejects!(
        r#"
[apps.web]
ship = "d"

[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }

[environments.prod]
hosts = ["a"]

[environments.staging]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "a"
"#
    );
}

#[test]
fn secret_for_an_unknown_environment() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }
from.production = { file = "secrets/prod.env" }
"#
    ));
}

#[test]
fn secret_both_skipped_and_given() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }
skip = ["prod"]
"#
    ));
}

#[test]
fn secret_mode_readable_by_everyone() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }
mode = "0644"
"#
    ));
}

#[test]
fn secret_mode_as_a_number() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }
mode = 600
"#
    ));
}

#[test]
fn secret_owner_that_looks_like_an_option() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { file = "secrets/prod.env" }
owner = "-R"
"#
    ));
}

#[test]
fn secret_from_a_badly_named_variable() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { env = "APP-ENV" }
"#
    ));
}

#[test]
fn secret_from_an_empty_command() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { command = [] }
"#
    ));
}

#[test]
fn secret_from_a_shell_string() {
    rejects!(with_env!(
        r#"
[apps.web.secrets.".env"]
from.prod = { command = "sops -d prod.env" }
"#
    ));
}

#[test]
fn token_for_the_secrets_of_a_push_environment() {
    rejects!(with_env!(
        r#"
[[server.tokens]]
name = "agents"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
scopes = ["agent"]
secrets = ["prod"]
"#
    ));
}

#[test]
fn token_for_the_secrets_of_an_unknown_environment() {
    rejects!(with_env!(
        r#"
[[server.tokens]]
name = "agents"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
scopes = ["agent"]
secrets = ["edge"]
"#
    ));
}

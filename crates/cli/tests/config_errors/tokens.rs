//! `[[server.tokens]]`: an agent token's bindings (`hosts`, `apps`,
//! `envs`) and what they may name.

const PULL: &str = r#"
[apps.web]
ship = "src"

[environments.prod]
mode = "pull"
hosts = ["h1", "h2"]

[environments.staging]
hosts = ["a"]

[hosts.a]
transport = "local"
root = "hosts/a"
"#;

/// `PULL` with one token after it.
fn with(token: &str) -> String {
    format!(
        "{}\n[[server.tokens]]\nname = \"h1\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n{}",
        PULL.trim_start(),
        token.trim_start()
    )
}

#[test]
fn binding_on_a_token_with_another_scope() {
    let toml = with(
        r#"
scopes = ["agent", "read"]
hosts = ["h1"]
"#,
    );
    rejects!(&toml);
}

#[test]
fn binding_that_allows_nothing() {
    let toml = with(
        r#"
scopes = ["agent"]
hosts = []
"#,
    );
    rejects!(&toml);
}

#[test]
fn binding_to_a_push_environment() {
    let toml = with(
        r#"
scopes = ["agent"]
envs = ["prod", "staging"]
"#,
    );
    rejects!(&toml);
}

#[test]
fn binding_to_an_unknown_app() {
    let toml = with(
        r#"
scopes = ["agent"]
apps = ["wbe"]
"#,
    );
    rejects!(&toml);
}

#[test]
fn bound_host_that_no_pull_environment_lists() {
    let toml = with(
        r#"
scopes = ["agent"]
hosts = ["h1", "h3"]
"#,
    );
    rejects!(&toml);
}

#[test]
fn bound_host_listed_twice() {
    let toml = with(
        r#"
scopes = ["agent"]
hosts = ["h1", "h1"]
"#,
    );
    rejects!(&toml);
}

//! Webhooks: what validation refuses in `[webhooks.*]`.

#[test]
fn webhook_with_an_unknown_key() {
    rejects!(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
secret = "whsec_abc"
"#
    );
}

#[test]
fn webhook_with_an_unknown_event() {
    rejects!(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
events = ["deployment.*", "deploy.done"]
"#
    );
}

#[test]
fn webhook_url_must_be_http() {
    rejects!(
        r#"
[webhooks.chat]
url = "ftp://chat.example/hook"
secret_env = "CHAT_SECRET"
"#
    );
}

#[test]
fn webhook_secret_in_the_file() {
    rejects!(
        r#"
[webhooks.chat]
url = "http://chat.example/hook"
secret_env = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#
    );
}

#[test]
fn webhook_for_an_unknown_environment() {
    rejects!(
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
"#
    );
}

#[test]
fn environment_webhook_with_environments() {
    rejects!(
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
"#
    );
}

#[test]
fn webhook_with_zero_attempts() {
    rejects!(
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
"#
    );
}

#[test]
fn webhook_name_with_a_dot() {
    rejects!(
        r#"
[webhooks."chat.ops"]
url = "http://chat.example/hook"
secret_env = "CHAT_SECRET"
"#
    );
}

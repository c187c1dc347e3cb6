//! Valid configs parse into the model the rest of haul relies on; the
//! malformed ones are covered by the CLI's `config_errors` tests.

use haul_config::{Config, Reach};
use std::path::Path;

fn parse(text: &str) -> Config {
    Config::parse(Path::new("/etc/haul/haul.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn jump_takes_one_host_or_a_chain_and_resolves_hosts_and_destinations() {
    let c = parse(
        r#"
[environments.prod]
hosts = ["web1", "web2"]

[hosts.bastion]
address = "203.0.113.1"
user = "ops"
port = 2200

[hosts.web1]
address = "10.0.0.1"
jump = "bastion"

[hosts.web2]
jump = ["bastion", "deploy@inner.example:2222"]
"#,
    );
    let hosts = c.hosts_of("prod", &[], &[]).unwrap();
    let Reach::Ssh { jump, address, .. } = &hosts[0].reach else { panic!("ssh") };
    assert_eq!(address, "10.0.0.1");
    assert_eq!(jump.len(), 1);
    assert_eq!(
        (jump[0].address.as_str(), jump[0].user.as_deref(), jump[0].port),
        ("203.0.113.1", Some("ops"), Some(2200))
    );
    let Reach::Ssh { jump, address, .. } = &hosts[1].reach else { panic!("ssh") };
    assert_eq!(address, "web2", "the name is the address by default");
    assert_eq!(jump[1].key, "deploy@inner.example:2222");
    assert_eq!(
        (jump[1].address.as_str(), jump[1].user.as_deref(), jump[1].port),
        ("inner.example", Some("deploy"), Some(2222))
    );
    assert_eq!(hosts[1].root, "/srv");
}

#[test]
fn local_roots_resolve_against_the_config_file() {
    let c = parse(
        r#"
[environments.dev]
hosts = ["box"]

[hosts.box]
transport = "local"
root = "hosts/box"
"#,
    );
    let h = &c.hosts_of("dev", &[], &[]).unwrap()[0];
    assert_eq!(h.reach, Reach::Local);
    assert_eq!(h.root, "/etc/haul/hosts/box");
    assert_eq!(h.app_dir("web", None), "/etc/haul/hosts/box/web");
}

#[test]
fn the_init_example_is_valid() {
    let c = parse(haul_config::EXAMPLE);
    assert!(c.apps.contains_key("web"));
}

#[test]
fn a_pull_environment_needs_no_hosts_and_has_its_defaults() {
    let c = parse(
        r#"
[apps.web]
ship = "dist"

[environments.fleet]
mode = "pull"
waves = [{ name = "canary", roles = ["canary"] }, { name = "eu", labels = { zone = "eu" } }, { name = "half", percent = 50 }, { name = "rest" }]

[keys]
sign = ["keys/release.key"]
"#,
    );
    let e = c.env("fleet").unwrap();
    assert_eq!(e.mode(), haul_config::Mode::Pull);
    assert_eq!(e.silent_after().to_string(), "10m");
    assert_eq!(e.follow_timeout().to_string(), "30m");
    let selects: Vec<_> = e.waves.iter().map(|w| w.get_ref().select()).collect();
    assert_eq!(
        selects,
        [
            haul_config::WaveSelect::Roles(vec!["canary".into()]),
            haul_config::WaveSelect::Labels([("zone".to_string(), "eu".to_string())].into()),
            haul_config::WaveSelect::Percent(50),
            haul_config::WaveSelect::Rest,
        ]
    );
    assert_eq!(c.store_url(), "file:///etc/haul/.haul/store");
    assert_eq!(c.signing_keys(), [Path::new("/etc/haul/keys/release.key")]);
    assert_eq!(c.keys.expires.get_ref().to_string(), "720h");
}

#[test]
fn a_relative_file_store_is_resolved_against_the_file() {
    let c = parse("[store]\nurl = \"file://shared/store\"\n");
    assert_eq!(c.store_url(), "file:///etc/haul/shared/store");
    let c = parse("[store]\nurl = \"s3://bucket/prefix\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n");
    assert_eq!(c.store_url(), "s3://bucket/prefix");
}

#[test]
fn the_example_s_pull_environment_parses_once_uncommented() {
    let mut text = String::new();
    let mut on = false;
    for line in haul_config::EXAMPLE.lines() {
        if line.starts_with("# [environments.fleet]") || line.starts_with("# [store]") || line.starts_with("# [keys]") {
            on = true;
        } else if !line.starts_with("# ") {
            on = false;
        }
        text.push_str(if on { &line[2..] } else { line });
        text.push('\n');
    }
    let c = parse(&text);
    assert_eq!(c.env("fleet").unwrap().mode(), haul_config::Mode::Pull);
    assert_eq!(c.store_url(), "s3://my-bucket/haul");
}

#[test]
fn roles_only_agents_have_are_accepted_on_pull_environments() {
    // Named by a wave: known.
    let c = parse(
        r#"
[apps.web]
ship = "public"
roles = ["canary"]
migrate = { once = ["./migrate"], role = "canary" }

[environments.prod]
mode = "pull"
hosts = []
waves = [{ name = "first", roles = ["canary"] }, { name = "rest" }]
"#,
    );
    assert_eq!(c.apps.values().next().unwrap().migrate.role.as_ref().unwrap().get_ref(), "canary");
    // Waves that name no roles give nothing to check agents' roles against.
    parse(
        r#"
[apps.web]
ship = "public"
migrate = { once = ["./migrate"], role = "db" }

[environments.prod]
mode = "pull"
hosts = []
waves = [{ name = "half", percent = 50 }]
"#,
    );
}

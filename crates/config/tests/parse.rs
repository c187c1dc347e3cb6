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

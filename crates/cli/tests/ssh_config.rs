//! How haul hands hosts to OpenSSH, tested against the real `haul` binary
//! and a fleet of real `sshd` hosts (see `haul-testfleet`): values from
//! `haul.toml` cannot add ssh options, a host's address is resolved by the
//! user's ssh config exactly as `ssh <address>` resolves it, and with
//! `persist = "0s"` a master lives exactly as long as the run that uses it.
//! Needs root, as CI runs.

mod common;

use common::Project;
use haul_testfleet::{Fleet, FleetOptions};
use std::process::{Child, Command, Stdio};

// ---------------------------------------------------------------------------
// Values that would rewrite the ssh config
// ---------------------------------------------------------------------------

/// `haul check --hosts` on a host with `field = value` (a TOML basic
/// string): refused as bad config before anything runs, with the file, line
/// and field named; the marker the injected command would create is absent.
fn refused(field: &str, value: &str, line: usize) -> String {
    let p = Project::new("");
    let marker = p.path().join("injected");
    let value = value.replace("MARKER", &marker.display().to_string());
    p.write(
        "haul.toml",
        &format!(
            "[apps.app]\nship = \"src\"\n\n[environments.prod]\nhosts = [\"web\"]\n\n\
             [hosts.bastion]\naddress = \"127.0.0.2\"\n\n[hosts.web]\naddress = \"127.0.0.2\"\n{field} = \"{value}\"\n"
        ),
    );
    let out = p.haul(&["check", "--hosts"]).fails(2);
    assert!(!marker.exists(), "the injected ProxyCommand ran");
    let stderr = p.scrub(&out.stderr);
    assert!(stderr.contains(&format!("--> haul.toml:{line}:")), "{stderr}");
    stderr
}

#[test]
fn a_line_break_in_address_cannot_inject_a_proxy_command() {
    // `address` given twice is a TOML error, so the host is a second one.
    let p = Project::new("");
    let marker = p.path().join("injected");
    p.write(
        "haul.toml",
        &format!(
            "[apps.app]\nship = \"src\"\n\n[environments.prod]\nhosts = [\"web\"]\n\n\
             [hosts.web]\naddress = \"127.0.0.2\\nProxyCommand touch {}\"\n",
            marker.display()
        ),
    );
    let out = p.haul(&["check", "--hosts"]).fails(2);
    assert!(!marker.exists(), "the injected ProxyCommand ran");
    let stderr = p.scrub(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: host `web`: `address` \"127.0.0.2\\nProxyCommand touch [DIR]/injected\" cannot be handed to ssh: it contains a line break\n --> haul.toml:8:11\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_line_break_in_user_cannot_inject_a_proxy_command() {
    let stderr = refused("user", "root\\nProxyCommand touch MARKER", 12);
    assert!(stderr.contains("error: host `web`: `user` \"root\\nProxyCommand"), "{stderr}");
    assert!(stderr.contains("it contains a line break"), "{stderr}");
}

#[test]
fn a_line_break_in_a_jump_hop_cannot_inject_a_proxy_command() {
    let stderr = refused("jump", "bastion\\nProxyCommand touch MARKER", 12);
    assert!(stderr.contains("error: host `web`: jump hop \"bastion\\nProxyCommand"), "{stderr}");
}

#[test]
fn spaces_quotes_and_leading_dashes_in_ssh_fields_are_refused() {
    let stderr = refused("user", "root -oProxyCommand=x", 12);
    assert!(stderr.contains("`user` \"root -oProxyCommand=x\" cannot be handed to ssh: it contains whitespace"));
    let stderr = refused("user", "-oProxyCommand=touch MARKER", 12);
    assert!(stderr.contains("it starts with `-`, which ssh would read as an option"), "{stderr}");
    let stderr = refused("user", "ro\\\"ot", 12);
    assert!(stderr.contains("it contains a quote or backslash"), "{stderr}");
    let stderr = refused("jump", "ops@-oProxyCommand=x", 12);
    assert!(stderr.contains("jump hop"), "{stderr}");
}

#[test]
fn a_line_break_in_the_ssh_config_path_cannot_inject_an_option() {
    let p = Project::new("[ssh]\nconfig = \"a.conf\\nProxyCommand touch x\"\n");
    let out = p.haul(&["check"]).fails(2);
    let stderr = p.scrub(&out.stderr);
    assert!(
        stderr.starts_with("error: `[ssh] config` \"a.conf\\nProxyCommand touch x\" cannot be handed to ssh: it contains a line break\n --> haul.toml:2:10\n"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Host aliases from the user's ssh config
// ---------------------------------------------------------------------------

/// A user-style ssh config for a bastion fleet of three hosts, reached only
/// by alias: `web1` by a `Host` block, `web2` by a `Match` block, `web3` by
/// a `Host` block with its own user; all through the bastion `gate` by
/// `ProxyJump`, with the key named per alias; none by an address haul knows.
fn aliases(fleet: &Fleet) -> String {
    let [h1, h2, h3] = [&fleet.hosts[0], &fleet.hosts[1], &fleet.hosts[2]];
    let b = fleet.bastion.as_ref().expect("a bastion");
    let key = fleet.dir.join("client_key");
    format!(
        "Host web1\n  HostName {}\n\nMatch originalhost web2\n  HostName {}\n\n\
         Host web3\n  HostName {}\n  User root\n\n\
         Host web*\n  Port {port}\n  ProxyJump gate\n  IdentityFile {key}\n\n\
         Host gate\n  HostName {}\n  Port {port}\n  IdentityFile {key}\n  BindAddress {}\n\n\
         Host *\n  User root\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  LogLevel ERROR\n",
        h1.address,
        h2.address,
        h3.address,
        b.address,
        haul_testfleet::CLIENT_ADDRESS,
        fleet.dir.join("known_hosts").display(),
        port = h1.port,
        key = key.display(),
    )
}

/// A project whose hosts `web1`…`web3` are names only (no address, port,
/// user or jump), with `ssh` as its `[ssh]` table.
fn alias_project(ssh: &str) -> Project {
    Project::new(&format!(
        "[apps.app]\nship = \"src\"\n\n[environments.prod]\nhosts = [\"web1\", \"web2\", \"web3\"]\n\n{ssh}\n\
         [hosts.web1]\nroles = [\"web\"]\n[hosts.web2]\nroles = [\"web\"]\n[hosts.web3]\nroles = [\"web\"]\n"
    ))
}

/// Deploys through the aliases and checks each alias reached its own host.
fn deploys_through_aliases(fleet: &Fleet, p: &Project, env: &[(&str, &str)]) {
    let out = p.haul_env(&["deploy", "app", "prod", "--json"], env).ok();
    let release = out.report()["release"].as_str().expect("a release").to_string();
    for h in &fleet.hosts {
        let link = std::fs::read_link(h.path("/srv/app/current")).expect("current on every host");
        assert_eq!(link, std::path::Path::new("releases").join(&release), "{}", h.name);
    }
    let out = p.haul_env(&["exec", "prod", "--", "echo $HAUL_HOST"], env).ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["web1 | web1", "web2 | web2", "web3 | web3"]);
}

#[test]
fn host_aliases_in_the_ssh_config_named_in_haul_toml_are_honoured() {
    let fleet = Fleet::start(FleetOptions { hosts: 3, bastion: true, ..FleetOptions::default() }).expect("fleet");
    let conf = fleet.dir.join("aliases.conf");
    std::fs::write(&conf, aliases(&fleet)).unwrap();
    let p = alias_project(&format!("[ssh]\nconfig = \"{}\"\n", conf.display()));
    deploys_through_aliases(&fleet, &p, &[]);
}

#[test]
fn host_aliases_in_the_users_own_ssh_config_are_honoured() {
    let fleet = Fleet::start(FleetOptions { hosts: 3, bastion: true, ..FleetOptions::default() }).expect("fleet");
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/config"), aliases(&fleet)).unwrap();
    let p = alias_project("");
    deploys_through_aliases(&fleet, &p, &[("HOME", home.path().to_str().unwrap())]);
}

// ---------------------------------------------------------------------------
// Masters with persist = "0s"
// ---------------------------------------------------------------------------

/// Processes whose command line has `-M` (an ssh master) and `Port=<port>`
/// (a host of this test's fleet: every fleet has its own port).
fn masters_of(port: u16) -> Vec<String> {
    let want = format!("Port={port}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| c.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>())
        .filter(|args| args.first().is_some_and(|a| a.ends_with("ssh")) && args.contains(&want))
        .filter(|args| args.iter().any(|a| a == "-M"))
        .map(|args| args.join(" "))
        .collect()
}

/// A fleet of `n` hosts with `[ssh] persist = "0s"`, and `post_upload` for
/// its app.
fn persist_zero(n: usize, post_upload: &str) -> (Fleet, Project) {
    let fleet = Fleet::start(FleetOptions { hosts: n, ..FleetOptions::default() }).expect("fleet");
    let body = format!(
        "[apps.app]\nship = \"src\"\npost_upload = [{post_upload:?}]\n\n[environments.prod]\nhosts = {}\n",
        fleet.names_toml()
    );
    let toml = fleet.haul_toml(&body).replace("[ssh]\n", "[ssh]\npersist = \"0s\"\n");
    (fleet, Project::new(&toml))
}

#[test]
fn hosts_idle_at_a_barrier_keep_their_connection_with_persist_zero() {
    // h1 is slow; the others wait at the barrier after post_upload for
    // longer than any short idle timeout, then switch over the same master.
    let (fleet, p) = persist_zero(3, "if [ -e /srv/slow ]; then sleep 4; fi");
    std::fs::write(fleet.hosts[0].path("/srv/slow"), "").unwrap();
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok();
    let release = out.report()["release"].as_str().unwrap().to_string();
    for h in &fleet.hosts {
        let link = std::fs::read_link(h.path("/srv/app/current")).unwrap();
        assert!(link.ends_with(&release), "{}", h.name);
    }
    assert_eq!(masters_of(fleet.hosts[0].port), Vec::<String>::new(), "no master outlives the run");
}

/// Busy loops on every core, ended when dropped.
struct Burners(Vec<Child>);

impl Burners {
    fn start(n: usize) -> Burners {
        Burners(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("sh starts")
                })
                .collect(),
        )
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_cold_exec_on_many_hosts_under_load_loses_no_host_with_persist_zero() {
    let n = 40;
    let (fleet, p) = persist_zero(n, "true");
    let _busy = Burners::start(4);
    for run in 0..3 {
        let out = p.haul(&["--parallel", "40", "exec", "prod", "--", "echo up"]);
        assert_eq!(out.code, 0, "run {run}: {}", out.stderr);
        assert_eq!(out.stdout.lines().filter(|l| l.ends_with("| up")).count(), n, "run {run}: {}", out.stdout);
        assert_eq!(masters_of(fleet.hosts[0].port), Vec::<String>::new(), "run {run}: masters left behind");
    }
}

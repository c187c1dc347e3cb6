//! Runs that die, runs elsewhere, and runs that race: a `kill -9`ed deploy
//! does not block its environment (directly and through a `haul server`), a
//! deploy in another pid namespace keeps its locks, `haul unlock` closes a
//! dead run by hand, and many deploys racing on one environment go one at a
//! time with the audit chain intact.

mod common;

use common::{Project, Server, config, wait_until};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const SLOW: &str = r#"post_upload = ["sleep 20"]"#;

/// Starts `haul <args>` in a process group of its own, so that it and its
/// steps can be killed together, as a CI runner cancels a job.
fn spawn_group(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Child {
    p.command(args, env).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0).spawn().unwrap()
}

fn kill9(child: &mut Child) {
    let pgid = child.id().to_string();
    std::process::Command::new("kill").args(["-9", "--", &format!("-{pgid}")]).status().unwrap();
    child.wait().unwrap();
}

fn history(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut a = args.to_vec();
    a.extend(["history", "--json"]);
    p.haul_env(&a, env).ok().json().as_array().unwrap().clone()
}

#[test]
fn a_killed_deploy_is_closed_as_failed_and_the_rerun_proceeds_at_once() {
    let p = Project::new(&config(SLOW, ""));
    let mut first = spawn_group(&p, &["deploy", "app", "test"], &[]);
    let pid = first.id();
    wait_until("the first deploy to stage", || p.host("a").join(".haul/lock").exists() && !p.releases("a").is_empty());
    kill9(&mut first);

    p.write("haul.toml", &config("", ""));
    let t0 = Instant::now();
    let out = p.haul(&["deploy", "app", "test"]).ok();
    assert!(t0.elapsed() < Duration::from_secs(15), "no waiting for a lease or stale_after");
    assert!(out.stderr.contains("took over a stale lock"), "{}", out.stderr);
    let h = history(&p, &[], &[]);
    let dead = h.iter().find(|d| d["id"] == 1).unwrap();
    assert_eq!(dead["status"], "failed");
    let msg = dead["message"].as_str().unwrap();
    assert!(msg.starts_with(&format!("abandoned: its runner is gone: process {pid} on ")), "{msg}");
    assert_eq!(dead["runner"]["pid"], pid);
    assert_eq!(h.iter().find(|d| d["id"] == 2).unwrap()["status"], "succeeded");
    p.haul(&["audit", "verify"]).ok();
}

fn ci_token() -> String {
    common::token("ci", "ci-secret", &["read", "deploy", "admin"])
}

#[test]
fn a_killed_deploy_through_a_server_is_closed_and_the_rerun_proceeds_at_once() {
    let p = Project::new(&config(SLOW, &format!("[server]\n{}", ci_token())));
    let server = Server::start(&p);
    let client = format!("{}\n[ledger]\nurl = \"http://127.0.0.1:{}\"\n", config(SLOW, ""), server.port);
    p.write("client.toml", &client);
    let env = [("HAUL_TOKEN", "ci-secret")];
    let mut first = spawn_group(&p, &["--config", "client.toml", "deploy", "app", "test"], &env);
    let pid = first.id();
    wait_until("the first deploy to stage", || p.host("a").join(".haul/lock").exists() && !p.releases("a").is_empty());
    kill9(&mut first);

    p.write("client.toml", &client.replace(SLOW, ""));
    let out = p.haul_env(&["--config", "client.toml", "deploy", "app", "test"], &env).ok();
    assert!(out.stderr.contains("took over a stale lock"), "{}", out.stderr);
    let h = history(&p, &["--config", "client.toml"], &env);
    let dead = h.iter().find(|d| d["id"] == 1).unwrap();
    assert_eq!(dead["status"], "failed");
    assert!(
        dead["message"].as_str().unwrap().starts_with(&format!("abandoned: its runner is gone: process {pid} on ")),
        "{dead}"
    );
    assert_eq!(h.iter().find(|d| d["id"] == 2).unwrap()["status"], "succeeded");
}

/// Starts a slow deploy in a pid namespace of its own (a container on
/// this machine with host networking); its pid means nothing out here.
fn deploy_in_namespace(p: &Project, config: &str) -> Child {
    std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_haul"))
        .args(["--config", config, "deploy", "app", "test"])
        .current_dir(p.path())
        .env("HAUL_ACTOR", "container")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("unshare runs (as root)")
}

#[test]
fn a_deploy_in_another_pid_namespace_keeps_its_locks_and_its_run() {
    let p = Project::new(&config(SLOW, "[lock]\nlease = \"2s\"\n"));
    let mut first = deploy_in_namespace(&p, "haul.toml");
    wait_until("the contained deploy to stage", || {
        p.host("a").join(".haul/lock").exists() && !p.releases("a").is_empty()
    });
    // The ledger refuses: its runner may be alive (another namespace) and
    // renews its lease.
    std::thread::sleep(Duration::from_secs(3));
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("deployment 1 (deploy of "), "{}", out.stderr);
    assert!(out.stderr.contains("is still running in test"), "{}", out.stderr);
    // Another ledger meets the host locks, which are not taken over.
    p.write("other.toml", &(config(SLOW, "") + "\n[ledger]\nurl = \"sqlite://.haul/other.db\"\n"));
    let out = p.haul(&["--config", "other.toml", "deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("a: locked by deploy app test by container on "), "{}", out.stderr);
    assert!(!out.stderr.contains("took over"), "{}", out.stderr);

    // Killed, its lease runs out within seconds; its locks can only be
    // cleared by hand, which also closes its run.
    kill9(&mut first);
    std::thread::sleep(Duration::from_secs(3));
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("a: locked by deploy app test by container"), "{}", out.stderr);
    let h = history(&p, &[], &[]);
    let closed = h.iter().find(|d| d["id"] == 1).unwrap();
    assert!(
        closed["message"].as_str().unwrap().starts_with("abandoned: its runner stopped renewing its lease"),
        "{closed}"
    );
    p.haul(&["unlock", "app", "test", "--reason", "container was killed"]).ok();
    p.write("haul.toml", &config("", "[lock]\nlease = \"2s\"\n"));
    p.deploy();
}

#[test]
fn unlock_closes_a_run_that_died_elsewhere_with_the_reason() {
    let p = Project::new(&config(SLOW, ""));
    let mut first = deploy_in_namespace(&p, "haul.toml");
    // Killed in its `post_upload` step, not while a host script holds the
    // lock's guard: a guard whose taker was in another pid namespace
    // cannot be judged dead, and `haul unlock` would wait for it and then
    // ask for it to be removed by hand.
    wait_until("the contained deploy to stage", || {
        ["a", "b"].iter().all(|h| {
            p.host(h).join(".haul/lock").exists()
                && !p.releases(h).is_empty()
                && !p.host(h).join(".haul/lock.guard").exists()
        })
    });
    wait_until("its deployment to be recorded", || {
        p.haul(&["history", "--json"]).json().as_array().is_some_and(|a| !a.is_empty())
    });
    kill9(&mut first);
    let out = p.haul(&["unlock", "app", "test", "--reason", "runner host rebooted"]).ok();
    assert!(out.stdout.contains("closed deployment 1 as failed: runner host rebooted"), "{}", out.stdout);
    let h = history(&p, &[], &[]);
    assert_eq!(h[0]["status"], "failed");
    assert_eq!(h[0]["message"], "closed by hand: runner host rebooted");
    p.write("haul.toml", &config("", ""));
    p.deploy();
    p.haul(&["audit", "verify"]).ok();
}

#[test]
fn an_empty_lock_file_is_shown_by_status_refuses_deploys_and_unlock_clears_it() {
    let p = Project::new(&config("", ""));
    p.deploy();
    std::fs::write(p.host("b").join(".haul/lock"), "").unwrap();
    let out = p.haul(&["status", "app", "test"]).ok();
    assert!(out.stdout.contains("locked: an empty lock file: its holder is unknown"), "{}", out.stdout);
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("b: locked by an empty lock file: its holder is unknown"), "{}", out.stderr);
    assert!(out.stderr.contains("the lock file cannot be read"), "{}", out.stderr);
    let out = p.haul(&["unlock", "app", "test", "--reason", "torn by a full disk"]).ok();
    assert!(out.stdout.contains("b: cleared lock held by an empty lock file"), "{}", out.stdout);
    p.deploy();
}

/// Races six `haul` processes (`args(i)` each) for `rounds` rounds: each
/// that fails must say it was another's turn; every host ends on one
/// complete release, unlocked, with `keep` releases all still there.
fn race(p: &Project, rounds: usize, args: impl Fn(usize) -> Vec<String>, env: &[(&str, &str)], kept: &[&String]) {
    race_in(p, ("test", ["a", "b"]), rounds, args, env, kept)
}

/// [`race`] in environment `target.0`, whose hosts are `target.1`.
fn race_in(
    p: &Project,
    target: (&str, [&str; 2]),
    rounds: usize,
    args: impl Fn(usize) -> Vec<String>,
    env: &[(&str, &str)],
    kept: &[&String],
) {
    let (name, hosts) = target;
    let busy = format!("is still running in {name}");
    for round in 0..rounds {
        let mut racers: Vec<Child> = (0..6)
            .map(|i| {
                let a = args(i);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                p.command(&a, env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        let mut ok = 0;
        for c in racers.iter_mut() {
            let (success, err) = c.wait_with_output_ref();
            if success {
                ok += 1;
            } else {
                assert!(
                    err.contains(&busy) || err.contains("locked by"),
                    "round {round}: a racer failed without saying it was another's turn:\n{err}"
                );
            }
        }
        // Racers that each took some hosts give way together (no one waits
        // holding a lock), so a round may end with none through; a lone
        // deploy then always goes.
        if ok == 0 {
            let a = args(1);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            p.haul_env(&a, env).ok();
        }
        let live = p.live(hosts[0]).unwrap();
        assert_eq!(p.live(hosts[1]).unwrap(), live, "round {round}: hosts agree");
        for id in kept {
            assert!(p.host(hosts[0]).join(format!("releases/{id}.manifest")).exists(), "{id} was pruned");
        }
        for h in hosts {
            assert!(!p.host(h).join(".haul/lock").exists(), "round {round}: {h} left locked");
        }
    }
}

/// No deployment is left running, no two deployments (deploys,
/// promotions, rollbacks) of one environment overlapped in time, and the
/// audit chain verifies.
fn check_ledger(p: &Project, args: &[&str], env: &[(&str, &str)]) {
    let h = history(p, args, env);
    assert!(h.iter().all(|d| d["status"] != "running"), "{h:?}");
    let mut ran: Vec<(String, String, String)> = h
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap().to_string();
            (s("env"), s("started"), s("finished"))
        })
        .collect();
    ran.sort();
    for w in ran.windows(2) {
        assert!(w[0].0 != w[1].0 || w[0].2 <= w[1].1, "two deployments of one environment ran at once: {w:?}");
    }
    let mut a = args.to_vec();
    a.extend(["audit", "verify"]);
    p.haul_env(&a, env).ok();
}

fn racer(i: usize, v1: &str, v2: &str) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    match i % 3 {
        0 => s(&["rollback", "app", "test", "--to", v1]),
        1 => s(&["deploy", "app", "test", "--release", v2]),
        _ => s(&["deploy", "app", "test", "--release", v1]),
    }
}

#[test]
fn racing_deploys_and_rollbacks_from_many_processes_go_one_at_a_time() {
    let p = Project::new(&config(r#"post_upload = ["sleep 0.3"]"#, ""));
    let v1 = p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = p.deploy();
    race(&p, 3, |i| racer(i, &v1, &v2), &[], &[&v1, &v2]);
    check_ledger(&p, &[], &[]);
}

/// Promotions race each other and rollbacks into an environment fed by
/// another: one at a time, the others told why, nothing in use pruned.
#[test]
fn racing_promotions_and_rollbacks_from_many_processes_go_one_at_a_time() {
    let prod = r#"
[environments.prod]
hosts = ["c", "d"]
code = "test"

[hosts.c]
transport = "local"
root = ".haul/hosts/c"

[hosts.d]
transport = "local"
root = ".haul/hosts/d"
"#;
    let p = Project::new(&config(r#"post_upload = ["sleep 0.3"]"#, prod));
    let v1 = p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = p.deploy();
    for v in [&v1, &v2] {
        p.haul(&["promote", "app", "--to", "prod", "--release", v]).ok();
    }
    let racer = |i: usize| -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        match i % 3 {
            0 => s(&["rollback", "app", "prod", "--to", &v1]),
            1 => s(&["promote", "app", "--to", "prod", "--release", &v2]),
            _ => s(&["promote", "app", "--to", "prod", "--release", &v1]),
        }
    };
    race_in(&p, ("prod", ["c", "d"]), 3, racer, &[], &[&v1, &v2]);
    check_ledger(&p, &[], &[]);
}

#[test]
fn racing_deploys_through_two_servers_over_one_postgresql_go_one_at_a_time() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("race").unwrap();
    let slow = r#"post_upload = ["sleep 0.3"]"#;
    let p = Project::new(&config(slow, &format!("[ledger]\nurl = \"{url}\"\n\n[server]\n{}", ci_token())));
    let (s1, s2) = (Server::start(&p), Server::start(&p));
    for (name, s) in [("one.toml", &s1), ("two.toml", &s2)] {
        p.write(name, &format!("{}\n[ledger]\nurl = \"http://127.0.0.1:{}\"\n", config(slow, ""), s.port));
    }
    let env = [("HAUL_TOKEN", "ci-secret")];
    let v1 = p.haul_env(&["--config", "one.toml", "deploy", "app", "test", "--json"], &env).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = p.haul_env(&["--config", "two.toml", "deploy", "app", "test", "--json"], &env).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    let args = |i: usize| {
        let mut a = vec!["--config".to_string(), if i.is_multiple_of(2) { "one.toml" } else { "two.toml" }.to_string()];
        a.extend(racer(i, &v1, &v2));
        a
    };
    race(&p, 3, args, &env, &[&v1, &v2]);
    check_ledger(&p, &[], &[]);
}

trait WaitRef {
    fn wait_with_output_ref(&mut self) -> (bool, String);
}

impl WaitRef for Child {
    fn wait_with_output_ref(&mut self) -> (bool, String) {
        let mut err = String::new();
        std::io::Read::read_to_string(self.stderr.as_mut().unwrap(), &mut err).unwrap();
        (self.wait().unwrap().success(), err)
    }
}

#[test]
fn a_run_through_a_server_renews_at_the_servers_lease_and_unlock_closes_it_once_dead() {
    let p = Project::new(&config(SLOW, &format!("[lock]\nlease = \"2s\"\n\n[server]\n{}", ci_token())));
    let server = Server::start(&p);
    let client = format!("{}\n[ledger]\nurl = \"http://127.0.0.1:{}\"\n", config(SLOW, ""), server.port);
    p.write("client.toml", &client);
    let env = [("HAUL_TOKEN", "ci-secret")];
    let mut first = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_haul"))
        .args(["--config", "client.toml", "deploy", "app", "test"])
        .current_dir(p.path())
        .env("HAUL_TOKEN", "ci-secret")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("unshare runs (as root)");
    wait_until("the contained deploy to stage", || p.host("a").join(".haul/lock").exists());
    // Longer than the server's lease: the runner renewed it through the
    // server, so the run still holds the environment.
    std::thread::sleep(Duration::from_secs(3));
    let out = p.haul_env(&["--config", "client.toml", "deploy", "app", "test"], &env).fails(1);
    assert!(out.stderr.contains("deployment 1 (deploy of "), "{}", out.stderr);
    assert!(out.stderr.contains("is still running in test"), "{}", out.stderr);
    kill9(&mut first);
    let out = p.haul_env(&["--config", "client.toml", "unlock", "app", "test", "--reason", "job cancelled"], &env).ok();
    assert!(out.stdout.contains("closed deployment 1 as failed: job cancelled"), "{}", out.stdout);
    p.write("client.toml", &client.replace(SLOW, ""));
    p.haul_env(&["--config", "client.toml", "deploy", "app", "test"], &env).ok();
}

/// A release of the same name that another run staged while this one was
/// staging it (one whose lock was cleared, say) is that run's: this run's
/// stage is refused and fails the deploy, and its clean-up never removes
/// what the other run made. The other run is played by a `tar` first on
/// the hosts' PATH that, once the real one has unpacked, makes the
/// release's directory as the other run would.
#[test]
fn a_deploy_that_finds_its_release_staged_by_another_run_leaves_it_alone() {
    let p = Project::new(&config("", ""));
    let shim = p.path().join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    let real = ["/usr/bin/tar", "/bin/tar"].into_iter().find(|t| std::path::Path::new(t).exists()).unwrap();
    std::fs::write(
        shim.join("tar"),
        format!(
            "#!/bin/sh\n{real} \"$@\" || exit\nfor d in releases/.incoming-*; do id=${{d#releases/.incoming-}}; id=${{id%%.by-*}}; [ -d \"$d\" ] && mkdir -p \"releases/$id/theirs\"; done\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(shim.join("tar"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    let out = p.haul_env(&["deploy", "app", "test"], &[("PATH", &path)]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("appeared on this host while it was staged"), "{}", out.stderr);
    for h in ["a", "b"] {
        let theirs: Vec<_> = std::fs::read_dir(p.host(h).join("releases"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().join("theirs").is_dir())
            .collect();
        assert_eq!(theirs.len(), 1, "host {h}: the other run's release was removed");
        assert!(p.live(h).is_none(), "host {h} was switched");
    }
}

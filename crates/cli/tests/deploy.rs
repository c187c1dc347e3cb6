//! Deploys, rollbacks and host housekeeping through the real binary, on
//! local hosts (directories standing in for servers) with real `sh`, `tar`
//! and `cp`.

mod common;

use common::{Project, config, four_hosts, snapshot};
use std::os::unix::fs::MetadataExt;

#[test]
fn deploy_puts_the_release_live_on_every_host() {
    let p = Project::new(&config("shared = [\"log/\", \"config/app.env\"]", ""));
    let id = p.deploy();
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(id.as_str()));
        let cur = p.host(h).join("current");
        assert_eq!(std::fs::read_to_string(cur.join("index.html")).unwrap(), "<h1>v1</h1>\n");
        assert_eq!(std::fs::read_to_string(cur.join("assets/app.css")).unwrap(), "body {}\n");
        // Shared paths: a directory and an empty file, linked into the release.
        assert!(p.host(h).join("shared/log").is_dir());
        assert_eq!(std::fs::read(p.host(h).join("shared/config/app.env")).unwrap(), b"");
        assert_eq!(std::fs::read_link(cur.join("log")).unwrap().display().to_string(), "../../shared/log");
        assert!(p.host(h).join(format!("releases/{id}.manifest")).is_file());
        assert!(!p.host(h).join(".haul/lock").exists(), "the lock is released");
    }
    let status = p.haul(&["status", "--json"]).ok().json();
    let rows = status.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["live"] == id.as_str() && r["mixed"] == false));
}

#[test]
fn redeploy_writes_only_what_changed_and_never_touches_the_old_release() {
    let p = Project::new(&config("shared = [\"log/\"]", ""));
    for i in 0..40 {
        p.write(&format!("src/lib/f{i}.txt"), &format!("file {i}\n").repeat(100));
    }
    let v1 = p.deploy();
    // Content in shared paths survives releases.
    std::fs::write(p.host("a").join("shared/log/app.log"), "kept\n").unwrap();
    let old = snapshot(&p.host("a").join("releases").join(&v1));

    p.write("src/lib/f7.txt", "changed\n");
    let out = p.haul(&["deploy", "app", "test", "--json"]).ok().report();
    let v2 = out["release"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    for h in out["hosts"].as_array().unwrap() {
        assert_eq!(h["status"], "ok");
        assert_eq!(h["stage"]["sent_files"], 1, "{h}");
        assert_eq!(h["stage"]["sent_bytes"], 8);
        assert_eq!(h["stage"]["reused_files"], 41);
        assert_eq!(h["stage"]["base"], v1.as_str());
    }
    let (r1, r2) = (p.host("a").join("releases").join(&v1), p.host("a").join("releases").join(&v2));
    // Unchanged files are the same inode: reused, not copied.
    let ino = |d: &std::path::Path, f: &str| std::fs::metadata(d.join(f)).unwrap().ino();
    assert_eq!(ino(&r1, "lib/f1.txt"), ino(&r2, "lib/f1.txt"));
    assert_ne!(ino(&r1, "lib/f7.txt"), ino(&r2, "lib/f7.txt"));
    assert_eq!(std::fs::read_to_string(r2.join("lib/f7.txt")).unwrap(), "changed\n");
    assert_eq!(snapshot(&r1), old, "the older release changed");
    assert_eq!(std::fs::read_to_string(r2.join("log/app.log")).unwrap(), "kept\n");
}

#[test]
fn an_unchanged_tree_is_the_same_release_and_deploys_nothing() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    let out = p.haul(&["deploy", "app", "test"]).ok();
    assert!(out.stderr.contains(&format!("{v1} is already live on every host")), "{}", out.stderr);
    assert_eq!(p.releases("a"), vec![v1]);
}

#[test]
fn a_failing_build_names_the_step_shows_its_output_and_touches_no_host() {
    let p = Project::new(&config(r#"build = ["true", "echo compiling; echo 'undefined: frob' >&2; exit 3"]"#, ""));
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("  │ compiling\n"), "live output: {}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: build step `echo compiling; echo 'undefined: frob' >&2; exit 3` failed (exit 3):\ncompiling\nundefined: frob"
        ),
        "{}",
        out.stderr
    );
    assert!(!p.host("a").exists() && !p.host("b").exists());
}

#[test]
fn a_failing_post_upload_step_leaves_current_alone_and_cleans_up() {
    let p = Project::new(&config(
        r#"post_upload = [{ run = "if [ -f broken ]; then echo 'missing dependency' >&2; exit 4; fi", roles = ["db"] }]"#,
        "",
    ));
    let v1 = p.deploy();
    p.write("src/broken", "x");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(
        out.stderr.contains("a: post-upload: if [ -f broken ]; then echo 'missing dependency' >&2; exit 4; fi failed (exit 4):\nmissing dependency"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("stage failed: no host was switched"), "{}", out.stderr);
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v1.as_str()), "{h} still on v1");
        assert_eq!(p.releases(h), vec![v1.clone()], "{h}: the half-staged release is gone");
        assert!(!p.host(h).join(".haul/lock").exists());
    }
}

#[test]
fn a_failing_start_switches_every_host_back() {
    let p = Project::new(&config(
        "",
        r#"
[apps.app.service]
stop = ["echo stop $HAUL_RELEASE >> ../../shared-log"]
start = ["if [ -f fail-start ] && [ $HAUL_HOST = b ]; then echo 'port in use' >&2; exit 5; fi; echo start $HAUL_RELEASE >> ../../shared-log"]
"#,
    ));
    let v1 = p.deploy();
    p.write("src/fail-start", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1);
    let report = out.report();
    assert_eq!(report["ok"], false);
    let msg = report["message"].as_str().unwrap();
    assert!(msg.contains("b: start: "), "{msg}");
    assert!(msg.contains("port in use"), "{msg}");
    assert!(msg.contains(&format!("a: switched back to {v1}")), "{msg}");
    assert!(msg.contains(&format!("b: switched back to {v1}")), "{msg}");
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(v1.as_str()));
    }
    let hosts = report["hosts"].as_array().unwrap();
    assert!(hosts.iter().all(|h| h["status"] == "switched_back" && h["live"] == v1.as_str()));
    // The history records the switch back, and the service was restarted on v1.
    let hist = std::fs::read_to_string(p.host("a").join(".haul/history")).unwrap();
    assert!(hist.lines().last().unwrap().contains("\"kind\":\"switchback\""), "{hist}");
    let log = std::fs::read_to_string(p.host("a").join("shared-log")).unwrap();
    assert!(log.trim_end().ends_with(&format!("start {v1}")), "{log}");
}

#[test]
fn a_failing_health_check_switches_back_and_says_so() {
    let p = Project::new(&config(
        "",
        r#"
[[apps.app.health]]
name = "no canary file"
command = "test ! -f canary"
retries = 1
interval = "10ms"
"#,
    ));
    let v1 = p.deploy();
    p.write("src/canary", "");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("health check `no canary file` failed after 2 attempts: exit 1"), "{}", out.stderr);
    assert!(out.stderr.contains("switching every host back (failure policy: rollback)"), "{}", out.stderr);
    assert!(out.stdout.contains("switched_back"), "{}", out.stdout);
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()));
    assert_eq!(p.live("b").as_deref(), Some(v1.as_str()));
}

#[test]
fn failure_policy_halt_leaves_hosts_where_they_are() {
    let toml = config("", "[[apps.app.health]]\ncommand = \"test ! -f canary\"\nretries = 0\n")
        .replace("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\"]\nfailure = \"halt\"");
    let p = Project::new(&toml);
    p.deploy();
    p.write("src/canary", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1).report();
    let v2 = out["release"].as_str().unwrap();
    assert!(out["message"].as_str().unwrap().contains("halted (failure policy: halt)"));
    assert_eq!(p.live("a").as_deref(), Some(v2));
}

#[test]
fn steps_see_the_haul_environment() {
    let p =
        Project::new(&config(r#"post_upload = ["env | grep ^HAUL_ | grep -v ^HAUL_ACTOR= | sort > haul.env"]"#, ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    let env = std::fs::read_to_string(p.host("a").join("current/haul.env")).unwrap();
    let dir = p.host("a").display().to_string();
    assert_eq!(
        env,
        format!(
            "HAUL_APP=app\nHAUL_ENV=test\nHAUL_HOST=a\nHAUL_PREVIOUS_RELEASE={v1}\nHAUL_RELEASE={v2}\nHAUL_RELEASE_DIR={dir}/releases/{v2}\nHAUL_ROLES=web,db\n"
        )
    );
}

#[test]
fn build_and_local_steps_do_not_inherit_the_token_or_webhook_secrets() {
    let p = Project::new(&config(
        r#"build = ["env | sort > build.env"]
post_upload = ["env | sort > ../../host.env"]

[apps.app.hooks]
before_stage = [{ run = "env | sort > local.env", local = true }]"#,
        "[ledger]\ntoken_env = \"CI_TOKEN\"\n\n[webhooks.chat]\nurl = \"http://127.0.0.1:9/x\"\nsecret_env = \"CHAT_SECRET\"\n",
    ));
    let secrets = [
        ("CI_TOKEN", "t0ken"),
        ("HAUL_TOKEN", "h4ul"),
        ("CHAT_SECRET", "whsec_c2VjcmV0"),
        ("HAUL_SESSION_KEY", "k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y"),
        ("OTHER", "kept"),
    ];
    p.haul_env(&["deploy", "app", "test"], &secrets).ok();
    // A host with `transport = "local"` stands in for a server, which never
    // holds this machine's secrets: its steps do not see them either.
    let host = p.host("b").join("host.env");
    for file in [p.path().join("build.env"), p.path().join("local.env"), host] {
        let env = std::fs::read_to_string(&file).unwrap();
        let file = file.display();
        assert!(env.contains("OTHER=kept\n"), "{file}: {env}");
        for (k, v) in &secrets[..4] {
            assert!(!env.contains(v) && !env.contains(&format!("{k}=")), "{file} has {k}: {env}");
        }
    }
}

#[test]
fn refresh_replaces_stop_and_start_and_runs_after_the_switch() {
    let p = Project::new(&config(
        "",
        r#"
[apps.app.service]
stop = ["echo stop >> ../../svc.log"]
start = ["echo start >> ../../svc.log"]
refresh = ["echo refresh $(basename $(pwd -P)) >> ../../svc.log"]
"#,
    ));
    let v1 = p.deploy();
    let log = std::fs::read_to_string(p.host("b").join("svc.log")).unwrap();
    assert_eq!(log, format!("refresh {v1}\n"));
}

#[test]
fn a_second_deploy_is_refused_while_the_first_holds_the_lock() {
    let p = Project::new(&config(r#"post_upload = ["sleep 2"]"#, ""));
    let mut first = p
        .command(&["deploy", "app", "test"], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first deploy holds the locks.
    let lock = p.host("a").join(".haul/lock");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The ledger knows the environment is busy and says so before any host
    // is touched.
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(out.stderr.contains("error: deployment 1 (deploy of "), "{}", out.stderr);
    assert!(
        out.stderr.contains(" is still running in test; it may be retried once that one finishes"),
        "{}",
        out.stderr
    );
    // A deploy recorded elsewhere (another ledger) meets the hosts' locks.
    let other = std::fs::read_to_string(p.path().join("haul.toml")).unwrap()
        + "\n[ledger]\nurl = \"sqlite://.haul/other.db\"\n";
    p.write("other.toml", &other);
    let out = p.haul(&["--config", "other.toml", "deploy", "app", "test"]).fails(1);
    let pid = first.id();
    assert!(out.stderr.contains("a: locked by deploy app test by tester on "), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("(pid {pid}) since ")), "{}", out.stderr);
    assert!(
        out.stderr.contains("wait for it to finish; if it is stuck, clear it with: haul unlock app test --reason"),
        "{}",
        out.stderr
    );
    assert!(first.wait().unwrap().success(), "the first deploy finishes");
    p.haul(&["deploy", "app", "test"]).ok();
}

fn write_lock(p: &Project, host: &str, pid: u32, machine: &str, since: &str) {
    write_lock_json(
        p,
        host,
        serde_json::json!({
            "token": "t1", "user": "ghost", "machine": machine, "pid": pid,
            "since": since, "command": "deploy app test",
        }),
    );
}

fn write_lock_json(p: &Project, host: &str, lock: serde_json::Value) {
    let dir = p.host(host).join(".haul");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lock"), format!("{lock}\n")).unwrap();
}

fn this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

/// The identity a lock records for a process that ran here and exited.
fn dead_process() -> serde_json::Value {
    let mut child = std::process::Command::new("sleep").arg("0.05").spawn().unwrap();
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap();
    child.wait().unwrap();
    serde_json::json!({
        "machine": this_machine(), "pid": pid, "start": start,
        "boot": std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim(),
        "pidns": std::fs::read_link("/proc/self/ns/pid").unwrap().display().to_string(),
    })
}

#[test]
fn a_lock_of_a_dead_process_here_is_reported_and_taken_over() {
    let p = Project::new(&config("", ""));
    let mut lock = dead_process();
    let pid = lock["pid"].as_u64().unwrap();
    for (k, v) in
        [("token", "t1"), ("user", "ghost"), ("since", "2026-01-01T00:00:00Z"), ("command", "deploy app test")]
    {
        lock[k] = v.into();
    }
    write_lock_json(&p, "b", lock);
    let out = p.haul(&["deploy", "app", "test"]).ok();
    let m = this_machine();
    assert!(
        out.stderr.contains(&format!(
            "warning: b: took over a stale lock: deploy app test by ghost on {m} (pid {pid}) since 2026-01-01T00:00:00Z: process {pid} on {m} is no longer running"
        )),
        "{}",
        out.stderr
    );
    let hist = std::fs::read_to_string(p.host("b").join(".haul/history")).unwrap();
    assert!(
        hist.contains(&format!(
            "\"reason\":\"taken over: process {pid} on {m} is no longer running (deploy app test)\""
        )),
        "{hist}"
    );
    assert!(!p.host("b").join(".haul/lock").exists());
}

#[test]
fn a_lock_by_host_name_and_pid_alone_is_held_even_if_that_pid_is_gone() {
    // Without boot and pid namespace the pid may be another namespace's.
    let p = Project::new(&config("", ""));
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    write_lock(&p, "b", pid, &this_machine(), "2099-01-01T00:00:00Z");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(
        out.stderr.contains(&format!("b: locked by deploy app test by ghost on {} (pid {pid})", this_machine())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("wait for it to finish"), "{}", out.stderr);
    assert!(p.host("b").join(".haul/lock").exists());
}

#[test]
fn a_lock_of_a_live_process_elsewhere_is_reported_stale_by_age_and_unlock_clears_it() {
    let p = Project::new(&config("", "[lock]\nstale_after = \"10m\"\n"));
    write_lock(&p, "b", 4242, "build-server-7", "2026-01-01T00:00:00Z");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert!(
        out.stderr
            .contains("b: locked by deploy app test by ghost on build-server-7 (pid 4242) since 2026-01-01T00:00:00Z"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("the lock looks stale: it was taken "), "{}", out.stderr);
    assert!(out.stderr.contains("longer than lock.stale_after (10m)"), "{}", out.stderr);
    assert!(out.stderr.contains("clear a stale lock with: haul unlock app test --reason"), "{}", out.stderr);
    assert!(!p.host("a").join(".haul/lock").exists(), "the lock taken on a was given back");

    let out = p.haul(&["unlock", "app", "test", "--reason", "deployer crashed"]).ok();
    assert!(out.stdout.contains("b: cleared lock held by deploy app test by ghost"), "{}", out.stdout);
    assert!(out.stdout.contains("a: not locked"), "{}", out.stdout);
    let hist = std::fs::read_to_string(p.host("b").join(".haul/history")).unwrap();
    assert!(hist.contains("\"kind\":\"unlock\"") && hist.contains("\"reason\":\"deployer crashed\""), "{hist}");
    p.deploy();
}

#[test]
fn unlock_needs_a_reason() {
    let p = Project::new(&config("", ""));
    p.haul(&["unlock", "app", "test"]).fails(2);
    let out = p.haul(&["unlock", "app", "test", "--reason", " "]).fails(2);
    assert_eq!(out.stderr, "error: --reason must say why the lock is cleared\n");
}

#[test]
fn rollback_walks_the_chain_and_to_switches_to_any_release() {
    let p = Project::new(&config("", ""));
    let out = p.haul(&["rollback", "app", "test"]).fails(1);
    assert!(
        out.stderr.contains("a: no release to roll back to (nothing is live); name one with --to"),
        "{}",
        out.stderr
    );
    let v1 = p.deploy();
    let out = p.haul(&["rollback", "app", "test"]).fails(1);
    assert!(out.stderr.contains(&format!("{v1} is live and nothing was live before it")), "{}", out.stderr);
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    p.write("src/index.html", "v3");
    let v3 = p.deploy();

    p.haul(&["rollback", "app", "test"]).ok();
    assert_eq!(p.live("a").as_deref(), Some(v2.as_str()));
    p.haul(&["rollback", "app", "test"]).ok();
    assert_eq!(p.live("b").as_deref(), Some(v1.as_str()));
    let out = p.haul(&["rollback", "app", "test", "--to", &v3]).ok();
    assert!(out.stderr.contains(&format!("rolled back app in test to {v3} on 2 hosts")), "{}", out.stderr);
    assert_eq!(p.live("a").as_deref(), Some(v3.as_str()));
    assert_eq!(std::fs::read_to_string(p.host("a").join("current/index.html")).unwrap(), "v3");
    let out = p.haul(&["rollback", "app", "test", "--to", "20200101T000000.000Z-000000000000"]).fails(1);
    assert!(
        out.stderr.contains("release 20200101T000000.000Z-000000000000 of app is not in the ledger"),
        "{}",
        out.stderr
    );
    let hist = std::fs::read_to_string(p.host("a").join(".haul/history")).unwrap();
    assert_eq!(hist.matches("\"kind\":\"rollback\"").count(), 3);
}

/// A rollback whose switch is its last step releases each host's lock in
/// the switch's own round trip; a host whose switch failed still has its
/// lock released afterwards.
#[test]
fn a_rollback_releases_every_lock_whether_its_switch_worked_or_failed() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    let locks = || ["a", "b"].map(|h| p.host(h).join(".haul/lock").exists());
    p.haul(&["rollback", "app", "test"]).ok();
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()));
    assert_eq!(locks(), [false, false]);

    // b's history cannot be written: its switch moves `current` and fails.
    let history = p.host("b").join(".haul/history");
    std::fs::remove_file(&history).unwrap();
    std::fs::create_dir(&history).unwrap();
    let out = p.haul(&["rollback", "app", "test", "--to", &v2]).fails(1);
    assert!(out.stderr.contains("history could not be written"), "{}", out.stderr);
    assert_eq!(p.live("a").as_deref(), Some(v2.as_str()));
    assert_eq!(locks(), [false, false], "{}", out.stderr);
}

#[test]
fn rollback_is_refused_when_hosts_would_go_to_different_releases() {
    let p = Project::new(&config("", ""));
    p.deploy();
    p.write("src/index.html", "v2");
    p.haul(&["deploy", "app", "test", "--hosts", "a"]).ok();
    let out = p.haul(&["rollback", "app", "test"]).fails(1);
    assert!(out.stderr.contains("b: no release to roll back to"), "{}", out.stderr);
}

#[test]
fn prune_and_remove_never_touch_the_live_release_and_keep_the_chain() {
    let p = Project::new(&config("keep = 3", ""));
    let mut ids = vec![];
    for i in 0..4 {
        p.write("src/index.html", &format!("v{i}"));
        ids.push(p.deploy());
    }
    // keep = 3: the deploy pruned the oldest.
    assert_eq!(p.releases("a"), ids[1..].to_vec());

    let out = p.haul(&["remove", "app", "test", &ids[3]]).fails(1);
    assert!(out.stderr.contains(&format!("release {} is live on a, b", ids[3])), "{}", out.stderr);
    // Removing the middle release re-stitches the chain: rollback skips it.
    p.haul(&["remove", "app", "test", &ids[2]]).ok();
    assert_eq!(p.releases("b"), vec![ids[1].clone(), ids[3].clone()]);
    let rel = p.haul(&["releases", "app", "test", "--json"]).ok().json();
    assert_eq!(rel[0]["previous"], ids[1].as_str());
    p.haul(&["rollback", "app", "test"]).ok();
    assert_eq!(p.live("a").as_deref(), Some(ids[1].as_str()));

    // Prune to one keeps only the live release, even when it is the oldest.
    let out = p.haul(&["prune", "app", "test", "--keep", "1"]).ok();
    assert!(out.stdout.contains(&format!("a: removed {}", ids[3])), "{}", out.stdout);
    assert_eq!(p.releases("a"), vec![ids[1].clone()]);
    p.haul(&["prune", "app", "test", "--keep", "0"]).fails(2);
    let out = p.haul(&["remove", "app", "test", &ids[0]]).fails(1);
    assert!(out.stderr.contains(&format!("no host of test has release {}", ids[0])), "{}", out.stderr);
}

#[test]
fn cache_prune_keeps_the_newest_and_what_runs_anywhere_and_nothing_else() {
    let p = Project::new(&config("", ""));
    p.write("src/index.html", "v0");
    let live = p.deploy();
    let mut built = vec![];
    for i in 1..4 {
        p.write("src/index.html", &format!("v{i}"));
        p.write(&format!("src/only-{i}.txt"), &format!("only in v{i}"));
        built.push(p.haul(&["build", "app"]).ok().stdout.trim().to_string());
    }
    let out = p.haul(&["cache", "prune", "app", "--keep", "1", "--json"]).ok().json();
    assert_eq!(out[0]["removed"], serde_json::json!([built[0], built[1]]), "{out}");
    // Neither the live release nor the newest lost a file's contents: both deploy.
    assert!(out[0]["blobs"].as_u64().unwrap() >= 2, "{out}");
    p.haul(&["deploy", "app", "test", "--release", &built[2]]).ok();
    assert_eq!(std::fs::read_to_string(p.host("a").join("current/only-3.txt")).unwrap(), "only in v3");
    std::fs::remove_dir_all(p.host("b")).unwrap();
    p.haul(&["deploy", "app", "test", "--release", &live, "--hosts", "b"]).ok();
    assert_eq!(std::fs::read_to_string(p.host("b").join("current/index.html")).unwrap(), "v0");
    let out = p.haul(&["deploy", "app", "test", "--release", &built[0]]).fails(2);
    assert!(out.stderr.contains("in the release cache"), "{}", out.stderr);
    let out = p.haul(&["cache", "prune", "nope"]).fails(2);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}

#[test]
fn releases_lists_each_host_with_live_previous_and_history() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    let out = p.haul(&["releases", "app", "test", "--hosts", "b"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "b:");
    assert_eq!(lines[1], format!("  * {v2}  (live)"));
    assert_eq!(lines[2], format!("    {v1}  (previous)"));
    assert_eq!(lines[3], "  history:");
    assert!(lines[4].ends_with(&format!("deploy     {v1} → {v2} by tester")), "{}", lines[4]);
    assert!(lines[5].ends_with(&format!("deploy     → {v1} by tester")), "{}", lines[5]);
}

#[test]
fn deploy_of_a_given_release_does_not_build() {
    let p = Project::new(&config(r#"build = ["echo building >> build.log"]"#, ""));
    let out = p.haul(&["build", "app"]).ok();
    let id = out.stdout.trim().to_string();
    p.haul(&["deploy", "app", "test", "--release", &id]).ok();
    assert_eq!(p.live("a").as_deref(), Some(id.as_str()));
    let builds = std::fs::read_to_string(p.path().join("build.log")).unwrap();
    assert_eq!(builds, "building\n", "the deploy did not build again");
    let out = p.haul(&["deploy", "app", "test", "--release", "20200101T000000.000Z-000000000000"]).fails(2);
    assert!(
        out.stderr.contains("error: no release `20200101T000000.000Z-000000000000` of app `app` in the release cache"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_app_environment_or_host_is_a_usage_error() {
    let p = Project::new(&config("", ""));
    let out = p.haul(&["deploy", "nope", "test"]).fails(2);
    assert!(
        out.stderr.contains(
            "error: no app `nope` in [DIR]/haul.toml (apps: app)"
                .replace("[DIR]", &p.path().display().to_string())
                .as_str()
        ),
        "{}",
        out.stderr
    );
    let out = p.haul(&["deploy", "app", "prod"]).fails(2);
    assert!(out.stderr.contains("no environment `prod`"), "{}", out.stderr);
    let out = p.haul(&["deploy", "app", "test", "--hosts", "zz"]).fails(2);
    assert!(out.stderr.contains("error: environment `test` has no host `zz`"), "{}", out.stderr);
    p.haul(&["frobnicate"]).fails(2);
}

fn refused(setup: impl FnOnce(&std::path::Path), expected: &str) {
    let p = Project::new(&config("", ""));
    setup(&p.path().join("src"));
    let out = p.haul(&["build", "app"]).fails(1);
    assert!(out.stderr.contains(expected), "expected {expected:?} in:\n{}", out.stderr);
}

#[test]
fn a_symlink_leaving_the_tree_is_refused() {
    refused(
        |s| std::os::unix::fs::symlink("../../etc/passwd", s.join("assets/pw")).unwrap(),
        "error: symlink `assets/pw` points to `../../etc/passwd`, outside the tree that ships",
    );
    refused(
        |s| std::os::unix::fs::symlink("/etc", s.join("etc")).unwrap(),
        "error: symlink `etc` points to `/etc`, outside the tree that ships",
    );
}

#[test]
fn a_symlink_inside_the_tree_ships() {
    let p = Project::new(&config("", ""));
    std::os::unix::fs::symlink("../index.html", p.path().join("src/assets/home.html")).unwrap();
    p.deploy();
    assert_eq!(std::fs::read_to_string(p.host("a").join("current/assets/home.html")).unwrap(), "<h1>v1</h1>\n");
}

#[test]
fn fifos_and_sockets_are_refused() {
    refused(
        |s| {
            assert!(std::process::Command::new("mkfifo").arg(s.join("pipe")).status().unwrap().success());
        },
        "error: `pipe` is a FIFO; only files, directories and symlinks can ship",
    );
    refused(
        |s| {
            std::os::unix::net::UnixListener::bind(s.join("assets/sock")).unwrap();
        },
        "error: `assets/sock` is a socket; only files, directories and symlinks can ship",
    );
}

#[test]
fn device_files_are_refused() {
    refused(
        |s| {
            assert!(
                std::process::Command::new("mknod")
                    .arg(s.join("null"))
                    .args(["c", "1", "3"])
                    .status()
                    .unwrap()
                    .success()
            );
        },
        "error: `null` is a device file; only files, directories and symlinks can ship",
    );
}

#[test]
fn exec_runs_on_each_host_with_prefixed_output() {
    let p = Project::new(&config("", ""));
    let out = p.haul(&["exec", "test", "--", "echo", "hi from $HAUL_HOST"]).ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["a | hi from a", "b | hi from b"]);
    let out = p.haul(&["exec", "test", "--role", "db", "--", "echo $HAUL_ROLES"]).ok();
    assert_eq!(out.stdout, "a | web,db\n");
    let out = p.haul(&["exec", "test", "--", "[ $HAUL_HOST = a ] || { echo nope >&2; exit 7; }"]).fails(1);
    assert!(out.stderr.contains("b | nope"), "{}", out.stderr);
    assert!(out.stderr.contains("error: failed on 1 of 2 hosts:\nb: exit 7"), "{}", out.stderr);
}

#[test]
fn init_writes_a_config_that_checks_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let p = Project { dir };
    let out = p.haul(&["init"]).ok();
    assert_eq!(
        out.stdout,
        "wrote haul.toml and public/index.html (the page the example app ships); check it with `haul check`\n"
    );
    let out = p.haul(&["check"]).ok();
    assert!(
        out.stdout.ends_with("haul.toml is valid: 1 app (web), 1 environment (staging), 2 hosts\n"),
        "{}",
        out.stdout
    );
    let out = p.haul(&["init"]).fails(2);
    assert_eq!(out.stderr, "error: haul.toml already exists; pass --force to overwrite it\n");
    p.haul(&["init", "--force"]).ok();
    // The example deploys as written.
    p.haul(&["deploy", "web", "staging"]).ok();
}

#[test]
fn check_json_and_completions() {
    let p = Project::new(&config("", ""));
    let v = p.haul(&["check", "--json"]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["hosts"], serde_json::json!(["a", "b"]));
    for shell in ["bash", "zsh", "fish"] {
        let out = p.haul(&["completions", shell]).ok();
        assert!(out.stdout.contains("rollback"), "{shell}");
    }
}

#[test]
fn plan_prints_every_phase_without_touching_hosts() {
    let p = Project::new(&config(
        r#"build = ["make dist"]
shared = ["log/"]
post_upload = ["./bin/setup"]

[apps.app.migrate]
once = ["./bin/migrate"]
per_host = ["./bin/warm-cache"]
role = "db"

[apps.app.service]
stop = ["sv stop app"]
start = ["sv start app"]

[apps.app.hooks]
before_stage = [{ run = "notify start", local = true }]
after_switch = [{ run = "purge-cdn", roles = ["web"] }]

[[apps.app.health]]
http = "http://{host}:8080/up"
"#,
        "",
    ));
    let out = p.haul(&["plan", "app", "test"]).ok();
    common::scrub::assert_output!(p.path(), out.stdout);
    assert!(!p.path().join(".haul").exists(), "plan touches nothing");
    let dry = p.haul(&["deploy", "app", "test", "--dry-run"]).ok();
    assert_eq!(dry.stdout, out.stdout);
    let json = p.haul(&["plan", "app", "test", "--json"]).ok().json();
    assert_eq!(json["phases"].as_array().unwrap().len(), 5);
    assert_eq!(json["phases"][2]["tasks"][0]["on"]["hosts"], serde_json::json!(["a"]));
}

#[test]
fn deploy_json_is_a_stream_of_events_ending_in_the_report() {
    let p = Project::new(&config(r#"post_upload = ["echo hello from $HAUL_HOST"]"#, ""));
    let out = p.haul(&["deploy", "app", "test", "--json"]).ok();
    assert_eq!(out.stderr, "", "progress goes to the stream, not stderr");
    let events: Vec<serde_json::Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"phase"));
    assert_eq!(kinds.last(), Some(&"report"));
    let work = events.iter().find(|e| e["event"] == "work").unwrap();
    let finished = events.iter().filter(|e| e["event"] == "finished" && !e["host"].is_null()).count();
    assert_eq!(work["tasks"].as_u64().unwrap() as usize, finished, "the work total counts every host task");
    assert!(events.iter().any(|e| e["event"] == "output" && e["host"] == "b" && e["line"] == "hello from b"));
    assert!(events.iter().any(|e| e["event"] == "finished" && e["task"] == "switch current" && e["ok"] == true));
}

#[test]
fn a_rolling_rollout_switches_a_canary_then_batches_with_a_pause() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let start = format!("[apps.app.service]\nstart = [\"echo $HAUL_HOST $(date +%s%N) >> {}\"]", log.path().display());
    let p = Project::new(&four_hosts(&start, "rollout = \"rolling\"\ncanary = 1\nbatch = \"50%\"\npause = \"300ms\""));
    let plan = p.haul(&["plan", "app", "test"]).ok();
    assert!(
        plan.stdout.contains(
            "  rollout:    rolling: switch and verify in batches [a] [b, c] [d], pausing 300 ms between batches\n"
        ),
        "{}",
        plan.stdout
    );
    let out = p.haul(&["deploy", "app", "test"]).ok();
    assert!(out.stderr.contains("batch 1 of 3: a\n"), "{}", out.stderr);
    assert!(out.stderr.contains("batch 3 of 3: d\n"), "{}", out.stderr);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let starts: Vec<(String, u128)> = text
        .lines()
        .map(|l| {
            let (h, t) = l.split_once(' ').unwrap();
            (h.to_string(), t.parse().unwrap())
        })
        .collect();
    let order: Vec<&str> = starts.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(order[0], "a");
    assert!(order[1..3].contains(&"b") && order[1..3].contains(&"c"));
    assert_eq!(order[3], "d");
    let gap = |i: usize| (starts[i].1 - starts[i - 1].1) / 1_000_000;
    assert!(gap(1) >= 300 && gap(3) >= 300, "batches are paused between: {text}");
}

#[test]
fn a_failure_in_a_later_batch_switches_the_earlier_batches_back() {
    let p = Project::new(&four_hosts(
        "[apps.app.service]\nstart = [\"if [ -f broken ] && [ $HAUL_HOST = c ]; then exit 9; fi\"]",
        "rollout = \"rolling\"\nbatch = 2",
    ));
    let v1 = p.deploy();
    p.write("src/broken", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1).report();
    let status = |h: &str| out["hosts"].as_array().unwrap().iter().find(|r| r["host"] == h).unwrap()["status"].clone();
    assert_eq!(status("a"), "switched_back");
    assert_eq!(status("c"), "switched_back");
    assert_eq!(status("d"), "switched_back");
    for h in ["a", "b", "c", "d"] {
        assert_eq!(p.live(h).as_deref(), Some(v1.as_str()), "{h}");
    }
}

#[test]
fn migrations_run_once_and_per_host_and_skip_when_nothing_they_watch_changed() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let l = log.path().display();
    let p = Project::new(&config(
        &format!(
            "[apps.app.migrate]\nonce = [\"echo once $HAUL_HOST >> {l}\"]\nper_host = [\"echo each $HAUL_HOST >> {l}\"]\nrole = \"db\"\nwhen_changed = [\"db/**\"]"
        ),
        "",
    ));
    p.write("src/db/001.sql", "create table t;");
    p.deploy();
    let lines = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(lines(&std::fs::read_to_string(log.path()).unwrap()), vec!["each a", "each b", "once a"]);
    p.write("src/index.html", "v2");
    let out = p.haul(&["deploy", "app", "test"]).ok();
    assert!(out.stderr.contains("a: migration skipped: no changed file matches db/**"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(log.path()).unwrap().lines().count(), 3, "nothing ran");
    p.write("src/db/002.sql", "alter table t;");
    p.deploy();
    assert_eq!(std::fs::read_to_string(log.path()).unwrap().lines().count(), 6);
}

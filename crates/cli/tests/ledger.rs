//! Every deploy and rollback lands in the ledger (SQLite beside the config
//! by default, PostgreSQL when configured), with verifications, approvals,
//! quarantines and a tamper-evident audit log.

mod common;

use common::{Project, config, pipeline};

fn history(p: &Project) -> Vec<serde_json::Value> {
    p.haul(&["history", "--json"]).ok().json().as_array().unwrap().clone()
}

#[test]
fn deploys_and_rollbacks_are_recorded_and_linked() {
    let p = Project::new(&config("", "[apps.app.service]\nstart = [\"if [ -f broken ]; then exit 3; fi\"]\n"));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let out = p.haul(&["deploy", "app", "test", "--reason", "ship v2"]).ok();
    assert!(out.stderr.contains("deployed app"), "{}", out.stderr);
    p.write("src/broken", "");
    p.haul(&["deploy", "app", "test"]).fails(1);
    p.haul(&["rollback", "app", "test", "--reason", "v2 is slow"]).ok();

    let h = history(&p);
    let got: Vec<(&str, &str, Option<u64>)> = h
        .iter()
        .map(|d| (d["trigger"].as_str().unwrap(), d["status"].as_str().unwrap(), d["undoes"].as_u64()))
        .collect();
    let (d2, d3) = (h[2]["id"].as_u64().unwrap(), h[1]["id"].as_u64().unwrap());
    assert_eq!(
        got,
        vec![
            ("rollback", "succeeded", Some(d2)),
            ("deploy", "switched_back", None),
            ("deploy", "undone", None),
            ("deploy", "succeeded", None)
        ]
    );
    assert_eq!(h[0]["release"], v1.as_str());
    assert_eq!(h[0]["reason"], "v2 is slow");
    assert_eq!(h[2]["reason"], "ship v2");
    assert_eq!(h[0]["actor"], "tester");
    assert_eq!(h[3]["config_digest"].as_str().unwrap().len(), 64);
    let _ = d3;
    // The text form lists the same.
    let out = p.haul(&["history", "app", "test"]).ok();
    assert!(out.stdout.lines().nth(1).unwrap().contains(&format!("rollback (undoes {d2})")), "{}", out.stdout);
    // The ledger and the hosts agree: no drift.
    let status = p.haul(&["status", "--json"]).ok().json();
    assert!(status.as_array().unwrap().iter().all(|r| r["drift"] == false && r["ledger"] == v1.as_str()));
}

#[test]
fn rollback_to_the_live_release_marks_nothing_undone() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    // Going "back" to what runs re-asserts it on every host and undoes
    // nothing: the deploy of v2 stays the live one.
    p.haul(&["rollback", "app", "test", "--to", &v2]).ok();
    let h = history(&p);
    let got: Vec<(&str, &str, Option<u64>)> = h
        .iter()
        .map(|d| (d["trigger"].as_str().unwrap(), d["status"].as_str().unwrap(), d["undoes"].as_u64()))
        .collect();
    assert_eq!(
        got,
        vec![("rollback", "succeeded", None), ("deploy", "succeeded", None), ("deploy", "succeeded", None)]
    );
    // A real rollback after it undoes the deploy that brought v2 in, not
    // the re-assert of it.
    p.haul(&["rollback", "app", "test", "--to", &v1]).ok();
    let h = history(&p);
    assert_eq!(h[0]["undoes"].as_u64(), h[2]["id"].as_u64(), "{h:?}");
    assert_eq!((h[1]["status"].as_str(), h[2]["status"].as_str()), (Some("succeeded"), Some("undone")));
}

#[test]
fn status_shows_drift_between_hosts_and_the_ledger() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    // Someone switches host b by hand.
    let cur = p.host("b").join("current");
    std::fs::remove_file(&cur).unwrap();
    std::os::unix::fs::symlink(format!("releases/{v1}"), &cur).unwrap();
    let out = p.haul(&["status"]).ok();
    let b = out.stdout.lines().find(|l| l.contains("  b  ")).unwrap();
    assert!(b.contains(&format!("drift: the ledger says {v2}")), "{}", out.stdout);
    assert!(b.contains("hosts differ"), "{}", out.stdout);
}

#[test]
fn verifications_approvals_and_quarantines() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "fail", "--link", "https://ci.example/1"]).ok();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    let out = p.haul(&["history"]).ok();
    assert!(out.stdout.lines().nth(1).unwrap().ends_with("smoke pass"), "the newer report stands: {}", out.stdout);

    let out = p.haul(&["approve", "app", &v1, "--for", "test", "--comment", "ok"]).ok();
    assert_eq!(out.stdout, format!("tester approved {v1} of app for test\n"));
    let out = p.haul(&["approve", "app", &v1, "--for", "test"]).fails(1);
    assert_eq!(out.stderr, format!("error: tester already approved {v1} of app for test\n"));
    p.haul(&["approve", "app", &v1, "--for", "nowhere"]).fails(2);

    p.write("src/index.html", "v2");
    let v2 = p.haul(&["build", "app"]).ok().stdout.trim().to_string();
    p.haul(&["quarantine", "app", &v2, "--reason", "corrupts uploads"]).ok();
    let out = p.haul(&["deploy", "app", "test", "--release", &v2]).fails(1);
    assert!(
        out.stderr.contains(&format!("error: release {v2} of app may not enter test:\n  - quarantined by tester at "))
    );
    assert!(out.stderr.contains(": corrupts uploads\n(to go ahead anyway, break glass with --force --reason"));
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()), "nothing shipped");
}

#[test]
fn audit_verify_finds_a_changed_entry() {
    let p = Project::new(&config("", ""));
    p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    let out = p.haul(&["audit", "verify"]).ok();
    assert!(out.stdout.starts_with("audit log intact: "), "{}", out.stdout);
    let db = p.path().join(".haul/ledger.db");
    let py = format!(
        "import sqlite3; c = sqlite3.connect('{}'); c.execute(\"UPDATE audit SET actor = 'mallory' WHERE seq = 2\"); c.commit()",
        db.display()
    );
    assert!(std::process::Command::new("python3").args(["-c", &py]).status().unwrap().success());
    let out = p.haul(&["audit", "verify"]).fails(1);
    assert_eq!(out.stderr, "error: the audit log is broken at entry 2: entry 2 was changed\n");
}

#[test]
fn a_postgresql_ledger_records_the_same() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("cli").unwrap();
    let p = Project::new(&config("", &format!("[ledger]\nurl = \"{url}\"\n")));
    let v1 = p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    let h = history(&p);
    assert_eq!(h.len(), 1);
    assert_eq!((h[0]["release"].as_str(), h[0]["status"].as_str()), (Some(v1.as_str()), Some("succeeded")));
    assert!(!p.path().join(".haul/ledger.db").exists(), "nothing was written to SQLite");
    p.haul(&["audit", "verify"]).ok();
}

#[test]
fn promotion_takes_only_what_qualified_upstream_and_says_why_not() {
    let p = Project::new(&pipeline("[environments.prod.requires]\nverifications = [\"smoke\"]\napprovals = 1"));
    let out = p.haul(&["promote", "app", "--to", "prod"]).fails(1);
    assert_eq!(out.stderr, "error: nothing to promote: no release of app has succeeded in staging\n");
    let out = p.haul(&["promote", "app", "--to", "staging"]).fails(2);
    assert!(out.stderr.contains("environment `staging` builds its own code"), "{}", out.stderr);

    let v1 = p.haul(&["deploy", "app", "staging", "--json"]).ok().report()["release"].as_str().unwrap().to_string();
    let out = p.haul(&["promote", "app", "--to", "prod"]).fails(1);
    assert_eq!(
        out.stderr,
        format!(
            "error: no release of app in staging may enter prod yet:\n  {v1} (deployment 1):\n    - verification `smoke` has not been reported on deployment 1\n    - 0 of 1 approvals for prod\n"
        )
    );
    p.haul(&["verify", "app", "staging", "--name", "smoke", "--result", "pass"]).ok();
    p.haul(&["approve", "app", &v1, "--for", "prod"]).ok();
    let out = p.haul(&["promote", "app", "--to", "prod", "--dry-run"]).ok();
    assert_eq!(out.stdout, format!("{v1}\n"));
    assert!(p.live("b").is_none(), "a dry run changes nothing");
    p.haul(&["promote", "app", "--to", "prod", "--reason", "release train"]).ok();
    assert_eq!(p.live("b").as_deref(), Some(v1.as_str()));
    let h = history(&p);
    assert_eq!(
        (h[0]["trigger"].as_str(), h[0]["env"].as_str(), h[0]["release"].as_str()),
        (Some("promote"), Some("prod"), Some(v1.as_str()))
    );

    // A newer release whose smoke test failed does not qualify; a
    // quarantined one never does.
    p.write("src/index.html", "v2");
    let v2 = p.haul(&["deploy", "app", "staging", "--json"]).ok().report()["release"].as_str().unwrap().to_string();
    p.haul(&["verify", "app", "staging", "--name", "smoke", "--result", "fail", "--link", "https://ci/9"]).ok();
    p.haul(&["approve", "app", &v2, "--for", "prod"]).ok();
    p.haul(&["quarantine", "app", &v1, "--reason", "bad migration"]).ok();
    let out = p.haul(&["promote", "app", "--to", "prod"]).fails(1);
    assert!(
        out.stderr.contains(&format!(
            "  {v2} (deployment 3):\n    - verification `smoke` is fail on deployment 3 (reported by tester at "
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&format!("  {v1} (deployment 1):\n    - quarantined by tester at ")), "{}", out.stderr);
    assert!(out.stderr.contains(": bad migration\n"), "{}", out.stderr);
    let out = p.haul(&["promote", "app", "--to", "prod", "--release", "20200101T000000.000Z-000000000000"]).fails(1);
    assert!(out.stderr.contains("never succeeded in staging, where prod takes its code from"), "{}", out.stderr);
}

#[test]
fn soak_time_is_required_before_promotion() {
    let p = Project::new(&pipeline("[environments.prod.requires]\nsoak = \"1h\""));
    p.haul(&["deploy", "app", "staging"]).ok();
    let out = p.haul(&["promote", "app", "--to", "prod"]).fails(1);
    assert!(out.stderr.contains("of the 3600s required since deployment 1 finished"), "{}", out.stderr);
}

#[test]
fn a_failed_deploy_goes_back_to_the_last_verified_release() {
    let p = Project::new(&config("", "[apps.app.service]\nstart = [\"if [ -f broken ]; then exit 3; fi\"]\n"));
    let v1 = p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    p.write("src/index.html", "v2");
    let v2 = p.deploy(); // never verified
    p.write("src/broken", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1).report();
    let msg = out["message"].as_str().unwrap();
    assert!(msg.contains(&format!("a: switched back to {v1}")), "{msg}");
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()), "not {v2}, which was never verified");
}

//! `haul deploy` and `haul rollback` on a pull environment, with real
//! `haul agent` processes on local roots: the command spools, blesses and
//! follows their reports to the end, applies the failure policy, and
//! records the run in the ledger like a push deploy.

use crate::common::{Killed, Project, report, wait_until};

/// A step that fails on agent `h2` once the release ships a file `fail`.
const FAIL_ON_H2: &str =
    r#"post_upload = ['if [ "$HAUL_HOST" = h2 ] && [ -f fail ]; then echo broken on h2; exit 1; fi']"#;

fn project(env_extra: &str) -> Project {
    let p = Project::pull(&["h1", "h2"], env_extra, "");
    let toml = std::fs::read_to_string(p.path().join("haul.toml")).unwrap();
    p.write("haul.toml", &toml.replace("ship = \"src\"", &format!("ship = \"src\"\n{FAIL_ON_H2}")));
    p
}

fn history(p: &Project) -> serde_json::Value {
    p.haul(&["history", "app", "fleet", "--json"]).ok().json()
}

#[test]
fn deploy_follows_every_agent_until_it_is_live_and_records_the_run() {
    let p = project("");
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    let out = p.haul(&["deploy", "app", "fleet", "--json"]).ok();
    let r = out.report();
    let id = r["release"].as_str().unwrap().to_string();
    assert_eq!(r["ok"], true, "{r}");
    let statuses: Vec<(&str, &str)> = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap(), h["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("h1", "ok"), ("h2", "ok")]);
    assert_eq!(p.agent_live("h1").as_deref(), Some(id.as_str()));
    assert_eq!(p.agent_live("h2").as_deref(), Some(id.as_str()));
    // Progress came as the same JSON events as a push deploy.
    assert!(out.stdout.lines().any(|l| l.contains("\"event\":\"phase\"")), "{}", out.stdout);
    let h = history(&p);
    assert_eq!(h[0]["release"], id, "{h}");
    assert_eq!(h[0]["status"], "succeeded", "{h}");
    // Text mode: the per-host summary and the closing line.
    p.write("src/index.html", "<h1>v2</h1>\n");
    let text = p.haul(&["deploy", "app", "fleet"]).ok();
    assert!(text.stdout.contains("HOST") && text.stdout.contains("h2"), "{}", text.stdout);
    assert!(text.stderr.contains("deployed app"), "{}", text.stderr);
    let status = p.haul(&["status", "app", "fleet", "--json"]).ok().json();
    assert_eq!(status.as_array().unwrap().len(), 2);
    assert_eq!(status[0]["drift"], false, "{status}");
}

#[test]
fn a_failing_host_under_the_rollback_policy_blesses_the_previous_release_again() {
    let p = project("failure = \"rollback\"");
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    let v1 =
        report(&p.haul(&["deploy", "app", "fleet", "--json"]).ok().stdout)["release"].as_str().unwrap().to_string();
    p.write("src/fail", "");
    let out = p.haul(&["deploy", "app", "fleet", "--json"]).fails(1);
    let r = out.report();
    assert_eq!(r["ok"], false);
    assert!(
        r["message"].as_str().unwrap().contains(&format!("blessing {v1} again"))
            || r["message"].as_str().unwrap().contains(&v1),
        "{r}"
    );
    let h2 = r["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "h2").unwrap();
    assert_eq!(h2["status"], "failed", "{r}");
    // The newest blessing names v1 again, as a higher version.
    let ls = p.haul(&["store", "ls", "--json"]).ok().json();
    let blessing = &ls["apps"][0]["environments"][0]["blessing"];
    assert_eq!((blessing["release"].as_str(), blessing["version"].as_u64()), (Some(v1.as_str()), Some(3)), "{ls}");
    wait_until("both agents are back on v1", || {
        p.agent_live("h1").as_deref() == Some(v1.as_str()) && p.agent_live("h2").as_deref() == Some(v1.as_str())
    });
    let h = history(&p);
    assert!(["switched_back", "failed"].contains(&h[0]["status"].as_str().unwrap()), "{h}");
}

#[test]
fn a_failing_host_under_the_halt_policy_stops_and_blesses_nothing_more() {
    let p = project("failure = \"halt\"");
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    p.haul(&["deploy", "app", "fleet", "--json"]).ok();
    p.write("src/fail", "");
    let out = p.haul(&["deploy", "app", "fleet"]).fails(1);
    assert!(out.stderr.contains("halted"), "{}", out.stderr);
    assert!(out.stderr.contains("h2"), "{}", out.stderr);
    let ls = p.haul(&["store", "ls", "--json"]).ok().json();
    assert_eq!(ls["apps"][0]["environments"][0]["blessing"]["version"], 2, "no blessing after the failure: {ls}");
    assert_eq!(history(&p)[0]["status"], "failed");
}

#[test]
fn a_listed_host_that_never_reports_times_the_deploy_out() {
    let p = Project::pull(&["h1", "ghost"], "timeout = \"3s\"\nfailure = \"halt\"", "");
    let _a = p.agent("h1", "web", &[]);
    let out = p.haul(&["deploy", "app", "fleet", "--json"]).fails(1);
    let r = out.report();
    assert!(r["message"].as_str().unwrap().contains("timed out after 3s waiting for ghost"), "{r}");
    let ghost = r["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "ghost").unwrap();
    assert_eq!(ghost["status"], "untouched", "{r}");
    let h1 = r["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "h1").unwrap();
    assert_eq!(h1["status"], "ok", "{r}");
}

#[test]
fn rollback_on_a_pull_environment_blesses_the_previous_release_and_follows_it() {
    let p = project("");
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    let v1 =
        report(&p.haul(&["deploy", "app", "fleet", "--json"]).ok().stdout)["release"].as_str().unwrap().to_string();
    p.write("src/index.html", "<h1>v2</h1>\n");
    p.haul(&["deploy", "app", "fleet", "--json"]).ok();
    let r = p.haul(&["rollback", "app", "fleet", "--json"]).ok().report();
    assert_eq!((r["kind"].as_str(), r["release"].as_str()), (Some("rollback"), Some(v1.as_str())), "{r}");
    assert_eq!(p.agent_live("h1").as_deref(), Some(v1.as_str()));
    assert_eq!(p.agent_live("h2").as_deref(), Some(v1.as_str()));
    assert_eq!(history(&p)[0]["trigger"], "rollback");
}

#[test]
fn an_agent_that_refuses_the_blessing_fails_the_deploy() {
    let p = project("failure = \"halt\"");
    // h2 trusts another key: what this project signs is refused there.
    let other = p.path().join("other");
    p.haul(&["key", "new", "other", "--dir", other.to_str().unwrap()]).ok();
    let other_pub = other.join("other.pub").display().to_string();
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[("HAUL_TRUST", other_pub.as_str())]);
    let r = p.haul(&["deploy", "app", "fleet", "--json"]).fails(1).report();
    let h2 = r["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "h2").unwrap();
    assert_eq!(h2["status"], "failed", "{r}");
    assert_eq!(p.agent_live("h2"), None, "a refused blessing is not acted on");
}

#[test]
fn a_failing_host_under_the_continue_policy_lets_the_others_finish() {
    let p = project("failure = \"continue\"");
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    p.write("src/fail", "");
    let r = p.haul(&["deploy", "app", "fleet", "--json"]).fails(1).report();
    let id = r["release"].as_str().unwrap();
    assert!(r["message"].as_str().unwrap().contains("failure policy: continue"), "{r}");
    assert_eq!(p.agent_live("h1").as_deref(), Some(id), "h1 went on");
    let statuses: Vec<&str> = r["hosts"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ok", "failed"], "{r}");
}

#[test]
fn deploy_tells_each_wave_as_it_is_done_in_order() {
    let p = project("waves = [{ name = \"canary\", roles = [\"canary\"] }, { name = \"rest\" }]");
    let _a = p.agent("h1", "canary", &[]);
    let _b = p.agent("h2", "web", &[]);
    let out = p.haul(&["deploy", "app", "fleet"]).ok();
    let canary = out.stderr.find("wave canary done (h1)").unwrap_or_else(|| panic!("{}", out.stderr));
    let rest = out.stderr.find("wave rest done (h2)").unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(canary < rest, "{}", out.stderr);
    let status = p.haul(&["status", "app", "fleet"]).ok().stdout;
    assert!(status.contains("wave canary") && status.contains("wave rest"), "{status}");
}

#[test]
fn a_report_that_cannot_be_read_or_speaks_for_another_host_is_skipped_not_fatal() {
    let p = project("");
    p.write(".haul/store/reports/app/fleet/broken.json", "{ not json");
    // Claims to be h2 from another host's key: not taken as h2's word.
    let forged = serde_json::json!({
        "host": "h2", "app": "app", "env": "fleet", "phase": "live", "blessing": 1,
        "live": "20200101T000000.000Z-000000000000", "at": jiff::Timestamp::now().to_string(), "agent": "0",
    });
    p.write(".haul/store/reports/app/fleet/mallory.json", &forged.to_string());
    let _a = p.agent("h1", "web", &[]);
    let _b = p.agent("h2", "web", &[]);
    let out = p.haul(&["deploy", "app", "fleet", "--json"]).ok();
    let id = out.report()["release"].as_str().unwrap().to_string();
    assert_eq!(p.agent_live("h2").as_deref(), Some(id.as_str()), "h2's own report was waited for");
    assert!(out.stdout.contains("broken.json") && out.stdout.contains("mallory.json"), "{}", out.stdout);
}

#[test]
fn a_deploy_stopped_by_sigterm_while_following_closes_its_deployment() {
    let p = Project::pull(&["ghost"], "", "");
    let child = p.spawn(&["deploy", "app", "fleet"]);
    let blessed = p.store().join("blessings/app/fleet");
    wait_until("the blessing", || std::fs::read_dir(&blessed).is_ok_and(|mut d| d.next().is_some()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    let h = history(&p);
    assert_eq!(h[0]["status"], "failed", "the deployment is not left running: {h}");
}

#[test]
fn package_scripts_renamed_in_the_config_are_the_ones_agents_run() {
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().display();
    let p = Project::pull(&["h1"], "", "[apps.app.scripts]\npre_jump = \"hooks/check.sh\"\npost_sync = \"\"\n");
    p.write("src/hooks/check.sh", &format!("touch {m}/renamed-pre-jump\n"));
    p.write("src/pre-jump.sh", &format!("touch {m}/default-pre-jump\n"));
    p.write("src/post-sync.sh", &format!("touch {m}/post-sync\n"));
    let _a = p.agent("h1", "web", &[]);
    let r = p.haul(&["deploy", "app", "fleet", "--json"]).ok().report();
    assert_eq!(r["ok"], true, "{r}");
    assert!(marks.path().join("renamed-pre-jump").exists(), "the configured pre_jump ran");
    assert!(!marks.path().join("default-pre-jump").exists(), "FTL's default name is not run once renamed");
    assert!(!marks.path().join("post-sync").exists(), "an empty name turns the step off");
}

/// Under `continue`, a first-wave host that failed and then recovered (its
/// agent retried) once let the later wave switch and the run end as
/// succeeded, after the deploy had already told the host failed: a failure
/// told stays one.
#[test]
fn a_host_that_failed_under_continue_and_then_recovered_still_fails_the_run() {
    let p = Project::pull(
        &["h1", "h2"],
        "failure = \"continue\"\nwaves = [{ name = \"canary\", roles = [\"canary\"] }, { name = \"rest\" }]",
        "",
    );
    let once = p.path().join("failed-once");
    let step = format!(
        "post_upload = ['if [ \"$HAUL_HOST\" = h1 ] && [ ! -e {0} ]; then touch {0}; echo broken once; exit 1; fi']",
        once.display()
    );
    let toml = std::fs::read_to_string(p.path().join("haul.toml")).unwrap();
    p.write("haul.toml", &toml.replace("ship = \"src\"", &format!("ship = \"src\"\n{step}")));
    // The canary retries after its 2 s interval: its failure stands long
    // enough for the follower to see it.
    let _a = p.agent("h1", "canary", &[("HAUL_INTERVAL", "2s")]);
    let _b = p.agent("h2", "web", &[]);
    let out = p.haul(&["deploy", "app", "fleet", "--json"]).fails(1);
    let r = out.report();
    let id = r["release"].as_str().unwrap().to_string();
    assert!(once.exists(), "the canary's step never failed");
    assert!(r["message"].as_str().unwrap().contains("failed on h1 (failure policy: continue)"), "{r}");
    assert_eq!(p.agent_live("h1").as_deref(), Some(id.as_str()), "the canary recovered");
    assert_eq!(history(&p)[0]["status"], "failed");
}

#[test]
fn with_report_keys_agents_seal_their_reports_and_an_unsealed_one_speaks_for_no_host() {
    let waves = "waves = [{ name = \"canary\", roles = [\"canary\"] }, { name = \"rest\" }]";
    let p = Project::pull(&["h1", "h2"], &format!("{waves}\nreport_keys = [\"keys/agents.pub\"]"), "");
    p.haul(&["key", "new", "agents"]).ok();
    let key = p.path().join("keys/agents.key").display().to_string();
    let seal = [("HAUL_REPORT_KEY", key.as_str())];
    // Written by someone who may write the store but holds no report key.
    let forged = serde_json::json!({
        "host": "h3", "app": "app", "env": "fleet", "phase": "live", "blessing": 1,
        "live": "20200101T000000.000Z-000000000000", "at": jiff::Timestamp::now().to_string(), "agent": "0",
    });
    p.write(".haul/store/reports/app/fleet/h3.json", &forged.to_string());
    let _a = p.agent("h1", "canary", &seal);
    let _b = p.agent("h2", "web", &seal);
    let mut deploy = Killed(p.spawn(&["deploy", "app", "fleet"]));
    // The forged report speaks for no host, and a report not taken may hide
    // one of the canary wave: h2 waits, and says why.
    wait_until("the canary wave goes ahead", || p.agent_live("h1").is_some());
    wait_until("h2 waits on the report it does not take", || {
        let status = p.haul(&["status", "app", "fleet", "--json"]).ok().stdout;
        status.contains("a report of this environment is not taken: reports/app/fleet/h3.json")
    });
    assert_eq!(p.agent_live("h2"), None, "no wave after it switched");
    // Removed, and the rollout goes on.
    std::fs::remove_file(p.store().join("reports/app/fleet/h3.json")).unwrap();
    let status = deploy.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut deploy.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("h3.json: it is not sealed by a report key"), "the deploy named it: {stderr}");
    assert!(stderr.contains("wave rest done (h2)"), "{stderr}");
    // What the agents wrote is sealed, and `haul status` reads it.
    let stored = std::fs::read_to_string(p.store().join("reports/app/fleet/h1.json")).unwrap();
    assert!(stored.contains("\"payload\"") && stored.contains("\"signatures\""), "{stored}");
    let status = p.haul(&["status", "app", "fleet", "--json"]).ok().json();
    assert_eq!(status.as_array().unwrap().len(), 2, "{status}");
}

#[test]
fn a_report_key_file_that_cannot_be_read_stops_the_blessing_and_is_named() {
    let p = Project::pull(&["h1"], "report_keys = [\"keys/missing.pub\"]", "");
    let out = p.haul(&["deploy", "app", "fleet"]).fails(2);
    assert!(out.stderr.contains("missing.pub"), "{}", out.stderr);
    assert!(!p.store().join("blessings").exists(), "nothing was blessed");
}

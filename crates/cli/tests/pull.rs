//! Pull deploys from the command line, with the real binary on a real
//! `file://` store: keys, spooling (haul's releases and archives other
//! tools made), blessing (and two blessers at once), `store ls` and
//! `purge`, `status`, and `haul deploy` on a pull environment following
//! real `haul agent` processes on local roots.

mod common;

#[path = "pull/deploy.rs"]
mod deploy;
#[path = "pull/s3.rs"]
mod s3;
#[path = "pull/verify.rs"]
mod verify;

use common::Project;
use std::os::unix::fs::PermissionsExt;

fn build(p: &Project) -> String {
    p.haul(&["build", "app"]).ok().stdout.trim().to_string()
}

/// Builds a release whose index page says `text`.
fn build_with(p: &Project, text: &str) -> String {
    p.write("src/index.html", text);
    build(p)
}

fn ls(p: &Project) -> serde_json::Value {
    p.haul(&["store", "ls", "--json"]).ok().json()
}

// --- keys ------------------------------------------------------------------

#[test]
fn key_new_writes_a_secret_only_its_owner_reads_and_refuses_to_overwrite_it() {
    let p = Project::new(&common::pull::pull_config(&[], "", ""));
    let out = p.haul(&["key", "new", "release", "--json"]).ok().json();
    let secret = p.path().join("keys/release.key");
    assert_eq!(out["secret"], "keys/release.key");
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(p.path().join("keys/release.pub").is_file());
    assert_eq!(out["id"].as_str().unwrap().len(), 16, "{out}");
    let before = std::fs::read(&secret).unwrap();
    let again = p.haul(&["key", "new", "release"]).fails(2);
    assert!(again.stderr.contains("release.key"), "{}", again.stderr);
    assert_eq!(std::fs::read(&secret).unwrap(), before, "the secret key is untouched");
}

#[test]
fn key_new_refuses_a_name_that_would_leave_its_directory() {
    let p = Project::new(&common::pull::pull_config(&[], "", ""));
    for bad in ["../evil", "a/b", ".hidden", ""] {
        let out = p.haul(&["key", "new", bad]).fails(2);
        assert!(out.stderr.contains("key name"), "{bad}: {}", out.stderr);
    }
    assert!(!p.path().join("evil.key").exists());
}

// --- spool -----------------------------------------------------------------

#[test]
fn spool_uploads_a_release_once_and_the_second_time_changes_nothing() {
    let p = Project::pull(&[], "", "");
    let id = build(&p);
    let first = p.haul(&["spool", "app", "--json"]).ok().json();
    assert_eq!((first["id"].as_str(), first["uploaded"].as_bool()), (Some(id.as_str()), Some(true)));
    let before = common::snapshot(&p.store().join("releases"));
    let second = p.haul(&["spool", "app", "--release", &id]).ok();
    assert!(second.stdout.starts_with("already spooled"), "{}", second.stdout);
    assert_eq!(common::snapshot(&p.store().join("releases")), before);
}

#[test]
fn spool_with_nothing_built_says_to_build() {
    let p = Project::pull(&[], "", "");
    let out = p.haul(&["spool", "app"]).fails(2);
    assert!(out.stderr.contains("haul build app"), "{}", out.stderr);
}

#[test]
fn spool_imports_an_archive_made_by_tar_like_ftl_does() {
    let p = Project::pull(&[], "", "");
    p.write("site/index.html", "<h1>from tar</h1>\n");
    let tar = std::process::Command::new("sh")
        .current_dir(p.path())
        .args(["-c", "cd site && tar -czf ../my_site.tgz *"])
        .status()
        .unwrap();
    assert!(tar.success());
    let out = p.haul(&["spool", "app", "my_site.tgz", "--json"]).ok().json();
    assert_eq!(out["uploaded"], true);
    let id = out["id"].as_str().unwrap();
    let listed = ls(&p);
    let releases = &listed["apps"][0]["releases"];
    assert_eq!(releases[0]["id"], id, "{listed}");
    assert_eq!(releases[0]["problem"], serde_json::Value::Null);
    // The same archive again is the same release, already there.
    let again = p.haul(&["spool", "app", "my_site.tgz", "--json"]).ok().json();
    assert_eq!((again["id"].as_str(), again["uploaded"].as_bool()), (Some(id), Some(false)));
}

#[test]
fn spool_refuses_an_archive_with_a_name_outside_the_tree_and_names_it() {
    let p = Project::pull(&[], "", "");
    let script = "import io,tarfile\nt=tarfile.open('evil.tar','w')\nd=b'x'\ni=tarfile.TarInfo('../escape.txt')\ni.size=1\nt.addfile(i,io.BytesIO(d))\nt.close()\n";
    let ok = std::process::Command::new("python3").current_dir(p.path()).args(["-c", script]).status().unwrap();
    assert!(ok.success());
    let out = p.haul(&["spool", "app", "evil.tar"]).fails(2);
    assert!(out.stderr.contains("../escape.txt"), "{}", out.stderr);
    assert!(!p.path().join("escape.txt").exists());
    let listed = ls(&p);
    assert!(listed["apps"].as_array().unwrap().iter().all(|a| a["releases"] == serde_json::json!([])), "{listed}");
}

#[test]
fn spool_refuses_a_store_url_it_cannot_open() {
    let p = Project::pull(&[], "", "[store]\nurl = \"s3://\"\n");
    build(&p);
    let out = p.haul(&["spool", "app"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

// --- bless -----------------------------------------------------------------

#[test]
fn bless_refuses_a_release_that_is_not_spooled() {
    let p = Project::pull(&[], "", "");
    let id = build(&p);
    let out = p.haul(&["bless", "app", "fleet", &id]).fails(2);
    assert!(out.stderr.contains("haul spool app"), "{}", out.stderr);
}

#[test]
fn bless_refuses_a_push_environment() {
    let p = Project::pull(
        &[],
        "",
        "[environments.push]\nhosts = [\"a\"]\n\n[hosts.a]\ntransport = \"local\"\nroot = \"a\"\n",
    );
    build(&p);
    p.haul(&["spool", "app"]).ok();
    let out = p.haul(&["bless", "app", "push"]).fails(2);
    assert!(out.stderr.contains("deploys by push"), "{}", out.stderr);
}

#[test]
fn bless_without_a_signing_key_says_how_to_make_one() {
    let p = Project::new(&common::pull::pull_config(&[], "", "").replace("sign = [\"keys/release.key\"]", ""));
    build(&p);
    p.haul(&["spool", "app"]).ok();
    let out = p.haul(&["bless", "app", "fleet"]).fails(2);
    assert!(out.stderr.contains("haul key new"), "{}", out.stderr);
}

#[test]
fn bless_numbers_versions_and_records_what_each_replaced() {
    let p = Project::pull(&[], "", "");
    let v1 = build_with(&p, "one");
    p.haul(&["spool", "app"]).ok();
    let b1 = p.haul(&["bless", "app", "fleet", "--json"]).ok().json();
    assert_eq!((b1["version"].as_u64(), b1["release"].as_str()), (Some(1), Some(v1.as_str())));
    assert_eq!(b1["previous"], serde_json::Value::Null);
    let v2 = build_with(&p, "two");
    p.haul(&["spool", "app"]).ok();
    let b2 = p.haul(&["bless", "app", "fleet", &v2, "--reason", "new page", "--json"]).ok().json();
    assert_eq!((b2["version"].as_u64(), b2["previous"].as_str()), (Some(2), Some(v1.as_str())));
    let env = &ls(&p)["apps"][0]["environments"][0];
    assert_eq!(env["blessing"]["version"], 2);
    assert_eq!(env["blessing"]["release"], v2);
    assert_eq!(env["blessing"]["status"], "verified", "the project's own key verifies it: {env}");
}

#[test]
fn bless_previous_blesses_what_the_current_blessing_replaced_as_a_new_version() {
    let p = Project::pull(&[], "", "");
    let v1 = build_with(&p, "one");
    p.haul(&["spool", "app"]).ok();
    let none = p.haul(&["bless", "app", "fleet", "--previous"]).fails(2);
    assert!(none.stderr.contains("never been blessed"), "{}", none.stderr);
    p.haul(&["bless", "app", "fleet"]).ok();
    let nothing_before = p.haul(&["bless", "app", "fleet", "--previous"]).fails(2);
    assert!(nothing_before.stderr.contains("no previous release"), "{}", nothing_before.stderr);
    let v2 = build_with(&p, "two");
    p.haul(&["spool", "app"]).ok();
    p.haul(&["bless", "app", "fleet"]).ok();
    let back = p.haul(&["bless", "app", "fleet", "--previous", "--json"]).ok().json();
    assert_eq!((back["version"].as_u64(), back["release"].as_str()), (Some(3), Some(v1.as_str())));
    assert_eq!(back["previous"], v2);
}

#[test]
fn bless_previous_does_not_follow_an_older_blessing_copied_under_a_newer_version() {
    let p = Project::pull(&[], "", "");
    for text in ["one", "two", "three"] {
        build_with(&p, text);
        p.haul(&["spool", "app"]).ok();
        p.haul(&["bless", "app", "fleet"]).ok();
    }
    // A store writer without the key copies version 2 (which replaced
    // `one`) in as version 4: following its `previous` would sign `one`.
    let dir = p.store().join("blessings/app/fleet");
    std::fs::copy(dir.join(format!("{:020}.json", 2)), dir.join(format!("{:020}.json", 4))).unwrap();
    let out = p.haul(&["bless", "app", "fleet", "--previous"]).fails(1);
    assert!(out.stderr.contains("signed as version 2"), "{}", out.stderr);
    assert!(!dir.join(format!("{:020}.json", 5)).exists());
}

#[test]
fn bless_of_the_newest_does_not_sign_a_release_planted_in_the_store() {
    let p = Project::pull(&[], "", "");
    build_with(&p, "one");
    p.haul(&["spool", "app"]).ok();
    let two = build_with(&p, "two");
    p.haul(&["spool", "app"]).ok();
    // A store writer without the key spools "a release" whose id sorts
    // after every real one (here: two's index under another id).
    let planted = "zzzz-planted-release";
    let releases = p.store().join("releases/app");
    let index = std::fs::read_to_string(releases.join(&two).join("index.json")).unwrap();
    std::fs::create_dir_all(releases.join(planted)).unwrap();
    std::fs::write(releases.join(planted).join("index.json"), index.replace(&two, planted)).unwrap();
    let b = p.haul(&["bless", "app", "fleet", "--json"]).ok().json();
    assert_eq!(b["release"], two);
}

#[test]
fn bless_refuses_a_store_release_that_is_not_the_one_built_here() {
    let p = Project::pull(&[], "", "");
    let one = build_with(&p, "one");
    p.haul(&["spool", "app"]).ok();
    // Another index under the id (a store writer who spooled it first).
    let path = p.store().join("releases/app").join(&one).join("index.json");
    let mut index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    index["digest"] = serde_json::Value::String("a".repeat(64));
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    let out = p.haul(&["bless", "app", "fleet", &one]).fails(1);
    assert!(out.stderr.contains("not the one built here"), "{}", out.stderr);
    assert!(!p.store().join("blessings/app/fleet").join(format!("{:020}.json", 1)).exists());
}

#[test]
fn bless_previous_does_not_follow_a_blessing_signed_by_an_unknown_key() {
    let p = Project::pull(&[], "", "");
    build_with(&p, "one");
    p.haul(&["spool", "app"]).ok();
    p.haul(&["bless", "app", "fleet"]).ok();
    build_with(&p, "two");
    p.haul(&["spool", "app"]).ok();
    p.haul(&["bless", "app", "fleet"]).ok();
    // The key is replaced: what the old one signed no longer verifies.
    std::fs::remove_file(p.path().join("keys/release.key")).unwrap();
    std::fs::remove_file(p.path().join("keys/release.pub")).unwrap();
    p.haul(&["key", "new", "release"]).ok();
    let out = p.haul(&["bless", "app", "fleet", "--previous"]).fails(1);
    assert!(out.stderr.contains("does not verify"), "{}", out.stderr);
}

#[test]
fn two_blessings_at_once_one_wins_and_the_other_names_the_winner() {
    let p = Project::pull(&[], "", "");
    let id = build(&p);
    p.haul(&["spool", "app"]).ok();
    let mut lost = 0;
    let mut won = 0;
    for _round in 0..6 {
        let children: Vec<_> = (0..6).map(|_| p.spawn(&["bless", "app", "fleet", &id])).collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => won += 1,
                Some(1) => {
                    assert!(stderr.contains("another blessing won: version"), "{stderr}");
                    assert!(stderr.contains(&format!("release {id} by tester")), "{stderr}");
                    lost += 1;
                }
                other => panic!("exit {other:?}: {stderr}"),
            }
        }
        if lost > 0 {
            break;
        }
    }
    assert!(lost > 0, "no two blessings ever raced");
    // Every win is one version, with no gap and no version twice.
    let versions: Vec<String> = std::fs::read_dir(p.store().join("blessings/app/fleet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(versions.len(), won, "{versions:?}");
    assert_eq!(ls(&p)["apps"][0]["environments"][0]["blessing"]["version"], won as u64);
}

#[test]
fn bless_refuses_a_quarantined_release_unless_forced() {
    let p = Project::pull(&[], "", "");
    let id = build(&p);
    p.haul(&["spool", "app"]).ok();
    p.haul(&["quarantine", "app", &id, "--reason", "leaks memory"]).ok();
    let out = p.haul(&["bless", "app", "fleet", &id]).fails(1);
    assert!(out.stderr.contains("quarantined"), "{}", out.stderr);
    assert!(!p.store().join("blessings").exists(), "nothing was blessed");
    p.haul(&["bless", "app", "fleet", &id, "--force", "--reason", "the fix is the config"]).ok();
}

// --- store ls / purge ------------------------------------------------------

#[test]
fn store_purge_keeps_every_release_blessed_in_the_last_n_blessings() {
    let p = Project::pull(&[], "", "");
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(build_with(&p, &format!("v{n}")));
        p.haul(&["spool", "app"]).ok();
        p.haul(&["bless", "app", "fleet"]).ok();
    }
    // Spooled after the newest blessing: maybe about to be blessed, kept.
    ids.push(build_with(&p, "v4"));
    p.haul(&["spool", "app"]).ok();
    // Within the grace period (an hour by default) nothing goes.
    let young = p.haul(&["store", "purge", "--keep", "1", "--dry-run", "--json"]).ok().json();
    assert_eq!(young["apps"][0]["removed"], serde_json::json!([]), "{young}");
    assert_eq!(young["apps"][0]["young"].as_array().unwrap().len(), 2, "{young}");
    let dry = p.haul(&["store", "purge", "--keep", "1", "--grace", "0s", "--dry-run", "--json"]).ok().json();
    let removed: Vec<&str> =
        dry["apps"][0]["removed"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(removed, [ids[0].as_str(), ids[1].as_str()]);
    assert!(p.store().join("releases/app").join(&ids[0]).exists(), "a dry run removes nothing");
    let out = p.haul(&["store", "purge", "--keep", "2", "--grace", "0s", "--json"]).ok().json();
    let removed: Vec<&str> =
        out["apps"][0]["removed"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(removed, [ids[0].as_str()]);
    let gone = p.store().join("releases/app").join(&ids[0]);
    assert!(std::fs::read_dir(&gone).map_or(true, |mut d| d.next().is_none()), "every object of {gone:?} is removed");
    let left: Vec<String> =
        ls(&p)["apps"][0]["releases"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().into()).collect();
    assert_eq!(left, ids[1..]);
    // What is left can still be blessed and fetched.
    p.haul(&["bless", "app", "fleet", &ids[1]]).ok();
}

#[test]
fn store_ls_shows_an_unverifiable_blessing_as_such_and_flags_silent_agents() {
    let p = Project::pull(&["web1"], "silent_after = \"1m\"", "");
    let id = build(&p);
    p.haul(&["spool", "app"]).ok();
    p.haul(&["bless", "app", "fleet"]).ok();
    // An agent last heard from an hour ago, still on nothing.
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    let report = serde_json::json!({
        "host": "web1", "app": "app", "env": "fleet", "phase": "idle", "at": at.to_string(), "agent": "0.1.0",
    });
    p.write(".haul/store/reports/app/fleet/web1.json", &report.to_string());
    // Without the signing key, nothing here can verify the blessing.
    std::fs::rename(p.path().join("keys"), p.path().join("keys.away")).unwrap();
    let env = &ls(&p)["apps"][0]["environments"][0];
    assert_eq!(env["blessing"]["status"], "unverified", "{env}");
    assert_eq!(env["blessing"]["release"], id);
    assert_eq!(env["agents"][0]["silent"], true, "{env}");
    assert_eq!(env["agents"][0]["drift"], true, "{env}");
    let status = p.haul(&["status", "app", "fleet", "--json"]).ok().json();
    assert_eq!(status[0]["host"], "web1");
    assert_eq!(status[0]["silent"], true);
    assert_eq!(status[0]["blessed"], id);
    let text = p.haul(&["status", "app", "fleet"]).ok().stdout;
    assert!(text.contains("SILENT") && text.contains("drift"), "{text}");
}

#[test]
fn plan_on_a_pull_environment_says_what_would_be_blessed() {
    let waves = r#"waves = [{ name = "canary", roles = ["canary"] }, { name = "eu", labels = { zone = "eu" } }, { name = "half", percent = 50 }, { name = "rest" }]"#;
    let p = Project::pull(&["web1", "web2"], waves, "");
    let out = p.haul(&["plan", "app", "fleet"]).ok().stdout;
    insta::assert_snapshot!(p.scrub(&out));
    assert!(!p.store().join("blessings").exists(), "a plan blesses nothing");
    let hosts = p.haul(&["deploy", "app", "fleet", "--hosts", "web1"]).fails(2);
    assert!(hosts.stderr.contains("--hosts does not apply"), "{}", hosts.stderr);
}

#[test]
fn status_and_store_ls_take_reports_by_the_blessing_not_a_file_that_dropped_its_report_keys() {
    let p = Project::pull(&["web1"], "report_keys = [\"keys/agents.pub\"]", "");
    p.haul(&["key", "new", "agents"]).ok();
    build(&p);
    p.haul(&["spool", "app"]).ok();
    p.haul(&["bless", "app", "fleet"]).ok();
    // The file here no longer lists report keys; the blessing agents run does.
    p.write("haul.toml", &common::pull::pull_config(&["web1"], "", ""));
    // Written by someone who may write the store but holds no report key.
    let forged = serde_json::json!({
        "host": "web1", "app": "app", "env": "fleet", "phase": "idle",
        "at": jiff::Timestamp::now().to_string(), "agent": "0",
    });
    p.write(".haul/store/reports/app/fleet/web1.json", &forged.to_string());
    let status = p.haul(&["status", "app", "fleet", "--json"]).ok();
    assert_eq!(status.json().as_array().map(Vec::len), Some(0), "{}", status.stdout);
    assert!(status.stderr.contains("web1.json: it is not sealed by a report key"), "{}", status.stderr);
    let env = &ls(&p)["apps"][0]["environments"][0];
    assert_eq!(env["agents"].as_array().map(Vec::len), Some(0), "{env}");
    assert!(env["agents_problem"].as_str().unwrap_or_default().contains("not sealed"), "{env}");
    // A blessing nothing here can verify still makes the readers want seals.
    std::fs::rename(p.path().join("keys"), p.path().join("keys.away")).unwrap();
    let env = &ls(&p)["apps"][0]["environments"][0];
    assert_eq!(env["agents"].as_array().map(Vec::len), Some(0), "{env}");
}

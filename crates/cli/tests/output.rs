//! What `haul` prints, pinned as snapshots: the plan of a rolling rollout
//! and of a rollback, and the per-host summary a deploy ends with, after a
//! success and after a failure that switched every host back. Times,
//! release ids, bytes on the wire and the temporary project directory are
//! filtered out (`common::scrub`); everything else (wording, columns, order)
//! is compared exactly. The plan of a deploy with every phase is pinned
//! beside the deploy tests (`deploy.rs`).

mod common;

use common::scrub::assert_output;
use common::{Project, config, four_hosts};

#[test]
fn plan_of_a_rolling_rollout_names_its_batches() {
    let p = Project::new(&four_hosts(
        "[apps.app.service]\nstart = [\"sv start app\"]\n\n[[apps.app.health]]\ncommand = \"curl -fsS localhost/up\"",
        "rollout = \"rolling\"\ncanary = 1\nbatch = \"50%\"\npause = \"300ms\"\nfailure = \"halt\"",
    ));
    let out = p.haul(&["plan", "app", "test"]).ok();
    assert_output!(p.path(), out.stdout);
}

#[test]
fn plan_of_a_rollback_goes_to_each_hosts_previous_release() {
    let p = Project::new(&config("[apps.app.service]\nstart = [\"echo started\"]", ""));
    p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    p.deploy();
    let out = p.haul(&["rollback", "app", "test", "--dry-run"]).ok();
    assert_output!(p.path(), out.stdout);
}

#[test]
fn summary_after_a_deploy_lists_every_host() {
    let p = Project::new(&config("", ""));
    p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let out = p.haul(&["deploy", "app", "test"]).ok();
    assert_output!(p.path(), out.stdout);
}

#[test]
fn summary_after_a_failed_switch_shows_every_host_switched_back() {
    let p = Project::new(&config(
        "[apps.app.service]\nstart = [\"if [ -f broken ] && [ $HAUL_HOST = b ]; then exit 3; fi\"]",
        "",
    ));
    let v1 = p.deploy();
    p.write("src/broken", "");
    let out = p.haul(&["deploy", "app", "test"]).fails(1);
    assert_output!(p.path(), out.stdout);
    assert_eq!(out.stdout.matches(&v1).count(), 2, "both hosts show v1 live: {}", out.stdout);
}

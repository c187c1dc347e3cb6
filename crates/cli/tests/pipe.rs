//! A closed stdout or stderr stops output, never the work: the run goes on
//! to its end, releases its locks and records its real outcome.

mod common;

use common::{Project, config};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

/// A deploy that keeps writing output for a while after it starts: a
/// post-upload step that sleeps between lines.
fn slow_project() -> Project {
    Project::new(&config(r#"post_upload = ["echo staging; sleep 1; echo still staging; sleep 1; echo staged"]"#, ""))
}

#[track_caller]
fn assert_finished(p: &Project, status: std::process::ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(0), "the run's own outcome is the exit code; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for h in ["a", "b"] {
        assert!(p.live(h).is_some(), "host {h} was switched");
        assert!(!p.host(h).join(".haul/lock").exists(), "host {h} was unlocked");
    }
    let history = p.haul(&["history", "--json"]).ok().json();
    let runs = history.as_array().expect("a list of deployments");
    assert_eq!(runs.len(), 1, "{history}");
    assert_eq!(runs[0]["status"], "succeeded", "{history}");
    assert_eq!(runs[0]["release"].as_str(), p.live("a").as_deref(), "{history}");
}

#[test]
fn closed_stdout_does_not_stop_a_deploy_half_way() {
    let p = slow_project();
    let mut child = p
        .command(&["deploy", "app", "test", "--json"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haul starts");
    // Read one event, then go away like `| head -1`.
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("one line");
    assert!(first.starts_with("{\"event\""), "{first}");
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr reads");
    let status = child.wait().expect("haul ends");
    assert_finished(&p, status, &stderr);
}

#[test]
fn closed_stderr_does_not_stop_a_deploy_half_way() {
    let p = slow_project();
    let mut child = p
        .command(&["deploy", "app", "test", "--verbose"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haul starts");
    // Nobody reads progress: every line of it fails to write.
    drop(child.stderr.take());
    let mut stdout = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("stdout reads");
    let status = child.wait().expect("haul ends");
    assert_finished(&p, status, "");
    assert!(stdout.starts_with("HOST  STATUS  LIVE"), "results still reach stdout:\n{stdout}");
}

#[test]
fn closed_stdout_and_stderr_do_not_stop_a_rollback() {
    let p = slow_project();
    let first = p.deploy();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let second = p.deploy();
    let mut child = p
        .command(&["rollback", "app", "test", "--json"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haul starts");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().expect("haul ends");
    assert_eq!(status.code(), Some(0));
    for h in ["a", "b"] {
        assert_eq!(p.live(h).as_deref(), Some(first.as_str()), "host {h} rolled back from {second}");
        assert!(!p.host(h).join(".haul/lock").exists(), "host {h} was unlocked");
    }
    let history = p.haul(&["history", "--json"]).ok().json();
    assert_eq!(history[0]["trigger"], "rollback", "{history}");
    assert_eq!(history[0]["status"], "succeeded", "{history}");
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    let p = Project::new(&config("", ""));
    let mut child = p
        .command(&["completions", "bash"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haul starts");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr reads");
    assert_eq!(child.wait().expect("haul ends").code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

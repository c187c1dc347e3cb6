//! `haul agent` as a real process: killed with SIGKILL in every phase,
//! restarted, and checked to finish the job with the interrupted step
//! reported failed and never a partial release live; stopped by SIGTERM
//! between steps with its lock released.

#[path = "../../agent/tests/support/mod.rs"]
mod support;

use haul_bless::StepDoc;
use haul_store::reports::AgentPhase;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::World;

fn agent(w: &World, host: &str, once: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
    c.arg("agent");
    if once {
        c.arg("--once");
    }
    for (k, v) in w.vars(host, &[]) {
        c.env(k, v);
    }
    c.env_remove("HAUL_AGENT_FILE").stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn wait_for(path: &Path, child: &mut Child) {
    let t = Instant::now();
    while !path.exists() {
        if let Ok(Some(s)) = child.try_wait() {
            let out = child.wait_with_output_ref();
            panic!("the agent ended ({s}) before {} appeared: {out}", path.display());
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

trait Drain {
    fn wait_with_output_ref(&mut self) -> String;
}

impl Drain for Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut o) = self.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

/// `current` is absent or leads to a complete release.
fn never_partial(w: &World, host: &str) {
    if let Some(id) = w.live(host) {
        let manifest = w.root(host).join(format!("web/releases/{id}.manifest"));
        assert!(manifest.exists(), "current leads to {id}, which is not complete");
    }
}

/// What a step does to be caught: mark that it started, then wait while
/// the flag exists.
fn hold(mark: &Path, flag: &Path) -> String {
    format!("touch '{}'; while [ -e '{}' ]; do sleep 0.05; done\n", mark.display(), flag.display())
}

/// An idle round (the blessed release live, nothing in flight) reads
/// `current` itself and starts no shell; a `current` moved by someone else
/// is noticed, the host read again and the release switched back.
#[tokio::test]
async fn an_idle_agent_starts_no_host_script_and_still_notices_a_moved_current() {
    let mut w = World::new();
    let r = w.release(&[("index.html", "v1")]);
    w.bless(&r, |_| {}).await;
    let out = agent(&w, "h1", true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));

    // Every `sh` the agent starts from now on leaves a line in `log`.
    let bin = w.path().join("counting-bin");
    let log = w.path().join("shells.log");
    std::fs::create_dir_all(&bin).unwrap();
    let sh = bin.join("sh");
    std::fs::write(&sh, format!("#!/bin/sh\necho started >> '{}'\nexec /bin/sh \"$@\"\n", log.display())).unwrap();
    std::fs::set_permissions(&sh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let counted = || {
        let mut c = agent(&w, "h1", true);
        c.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    counted();
    assert!(!log.exists(), "an idle round started a shell");
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));

    // Someone points `current` elsewhere: the next round reads the host
    // and switches back to the blessed release.
    let current = w.root("h1").join("web/current");
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink("releases/elsewhere", &current).unwrap();
    counted();
    assert!(log.exists(), "a moved current is read from the host");
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));
}

enum Where {
    PostUpload,
    Script(&'static str),
    Stop,
    Start,
}

async fn killed_during(at: Where) {
    let mut w = World::new();
    let (mark, flag) = (w.path().join("mark"), w.path().join("flag"));
    let held = hold(&mark, &flag);
    // un-jump is the script of the release being left.
    let mut old = vec![("v", "1".to_string())];
    if let Where::Script("un-jump.sh") = at {
        old.push(("un-jump.sh", held.clone()));
    }
    let old: Vec<(&str, &str)> = old.iter().map(|(p, b)| (*p, b.as_str())).collect();
    let r1 = w.release(&old);
    w.bless(&r1, |_| {}).await;
    let out = agent(&w, "h1", true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&flag, "").unwrap();
    let mut files = vec![("v", "2".to_string())];
    if let Where::Script(name) = at
        && name != "un-jump.sh"
    {
        files.push((name, held.clone()));
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(p, b)| (*p, b.as_str())).collect();
    let r2 = w.release(&files);
    let step = StepDoc { run: held.clone(), name: Some("held".into()), roles: vec![] };
    w.bless(&r2, |b| match at {
        Where::PostUpload => b.steps.post_upload = vec![step],
        Where::Stop => b.steps.stop = vec![step],
        Where::Start => b.steps.start = vec![step],
        Where::Script(_) => {}
    })
    .await;

    let mut child = agent(&w, "h1", true).spawn().unwrap();
    wait_for(&mark, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    never_partial(&w, "h1");
    std::fs::remove_file(&flag).unwrap();

    let out = agent(&w, "h1", true).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.live("h1").as_deref(), Some(r2.id.as_str()));
    never_partial(&w, "h1");
    let rep = w.report("h1").await;
    assert_eq!(rep.phase, AgentPhase::Live);
    let stopped: Vec<_> = rep.steps.iter().filter(|s| !s.ok && s.output.contains("stopped during")).collect();
    assert_eq!(stopped.len(), 1, "{:?}", rep.steps);
    let redone = rep.steps.iter().rev().find(|s| s.phase == stopped[0].phase).unwrap();
    assert!(redone.ok, "the interrupted step was redone: {:?}", rep.steps);
}

#[tokio::test]
async fn killed_while_staging_the_agent_stages_again() {
    killed_during(Where::PostUpload).await;
}

#[tokio::test]
async fn killed_during_post_sync_the_agent_runs_it_again() {
    killed_during(Where::Script("post-sync.sh")).await;
}

#[tokio::test]
async fn killed_during_pre_jump_the_agent_runs_it_again() {
    killed_during(Where::Script("pre-jump.sh")).await;
}

#[tokio::test]
async fn killed_during_un_jump_the_agent_switches_after_restart() {
    killed_during(Where::Script("un-jump.sh")).await;
}

#[tokio::test]
async fn killed_before_the_switch_the_agent_switches_after_restart() {
    killed_during(Where::Stop).await;
}

#[tokio::test]
async fn killed_right_after_the_switch_the_agent_finishes_it() {
    killed_during(Where::Start).await;
}

#[tokio::test]
async fn killed_during_post_jump_the_agent_runs_it_again() {
    killed_during(Where::Script("post-jump.sh")).await;
}

#[tokio::test]
async fn killed_during_download_the_agent_downloads_again() {
    let mut w = World::new();
    // Incompressible, so the download takes a while.
    let mut big = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let tree = w.path().join("big");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("blob"), &big).unwrap();
    let r = w.cache.build("web", &tree, "test", None).unwrap().0;
    w.bless(&r, |_| {}).await;
    let state = w.root("h1").join(".haul/agent/web.progress");
    let mut child = agent(&w, "h1", true).spawn().unwrap();
    let t = Instant::now();
    loop {
        let s = std::fs::read_to_string(&state).unwrap_or_default();
        if s.contains("\"phase\": \"download\"") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "never downloading: {s}");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    never_partial(&w, "h1");
    let out = agent(&w, "h1", true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));
    let rep = w.report("h1").await;
    assert!(rep.steps.iter().any(|s| !s.ok && s.output.contains("stopped during")), "{:?}", rep.steps);
    assert_eq!(std::fs::read(w.root("h1").join("web/current/blob")).unwrap(), big);
}

#[tokio::test]
async fn sigterm_stops_the_agent_between_steps_and_releases_the_lock() {
    let mut w = World::new();
    let (mark, flag) = (w.path().join("mark"), w.path().join("flag"));
    std::fs::write(&flag, "").unwrap();
    let held = hold(&mark, &flag);
    let r = w.release(&[("post-sync.sh", held.as_str())]);
    w.bless(&r, |_| {}).await;
    let mut child = agent(&w, "h1", false).spawn().unwrap();
    wait_for(&mark, &mut child);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&flag).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the agent did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "a stop asked for is not a failure: {status}");
    assert!(!w.root("h1").join("web/.haul/lock").exists(), "the lock was released");
    assert_eq!(w.live("h1"), None, "stopped before the switch");
}

#[tokio::test]
async fn over_s3_a_blessed_release_goes_live_and_stays_live() {
    let s3 = haul_tests3::S3Server::start();
    let url = s3.url("pull");
    let store = haul_store::Store::open_with(&url, &Default::default(), s3.env()).unwrap();
    let mut w = World::with_store(store, url);
    let r = w.release(&[("index.html", "v1"), ("post-sync.sh", "touch synced\n")]);
    w.bless(&r, |_| {}).await;
    let run = || {
        let mut c = agent(&w, "h1", true);
        c.envs(s3.env());
        c.output().unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));
    assert!(w.root("h1").join("web/current/synced").exists());
    assert_eq!(w.report("h1").await.phase, AgentPhase::Live);
    let again = run();
    assert!(String::from_utf8_lossy(&again.stdout).contains("live"), "{}", String::from_utf8_lossy(&again.stdout));
}

#[tokio::test]
async fn an_overlapping_run_waits_for_the_lock_and_does_not_call_the_running_step_a_crash() {
    let mut w = World::new();
    let (mark, flag) = (w.path().join("mark"), w.path().join("flag"));
    std::fs::write(&flag, "").unwrap();
    let held = hold(&mark, &flag);
    let r = w.release(&[("post-sync.sh", held.as_str())]);
    w.bless(&r, |_| {}).await;
    let mut first = agent(&w, "h1", true).spawn().unwrap();
    wait_for(&mark, &mut first);
    let second = agent(&w, "h1", true).output().unwrap();
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success() && said.contains("waiting: locked by"), "{said}");
    let meanwhile = w.report("h1").await;
    assert!(!meanwhile.steps.iter().any(|s| s.output.contains("stopped during")), "{:?}", meanwhile.steps);
    let state = std::fs::read_to_string(w.root("h1").join(".haul/agent/web.progress")).unwrap();
    assert!(state.contains("\"in_flight\""), "the running step is still in flight: {state}");
    std::fs::remove_file(&flag).unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(w.live("h1").as_deref(), Some(r.id.as_str()));
    let rep = w.report("h1").await;
    assert!(rep.steps.iter().all(|s| s.ok), "{:?}", rep.steps);
}

/// The regression: a `post_upload` step that failed left its tree in
/// place, and a manifest that appeared beside it meanwhile (an older haul,
/// a person; here the step itself) made the next round take the release
/// for complete and switch to it, its steps never passed. The agent now
/// discards what it staged when a step fails, as a push deploy does, and
/// the discard sets aside its own tree and that manifest.
#[tokio::test]
async fn a_release_whose_post_upload_failed_is_never_taken_for_complete() {
    let mut w = World::new();
    let flag = w.path().join("broken");
    std::fs::write(&flag, "").unwrap();
    let r = w.release(&[("v", "1")]);
    let run =
        format!("if [ -e '{}' ]; then : > \"$HAUL_RELEASE_DIR.manifest\"; echo broken; exit 1; fi", flag.display());
    let step = StepDoc { run, name: Some("check".into()), roles: vec![] };
    w.bless(&r, |b| b.steps.post_upload = vec![step]).await;
    let out = agent(&w, "h1", true).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("broken"), "{said}");
    assert_eq!(w.live("h1"), None);
    let releases = w.root("h1").join("web/releases");
    assert!(
        !(releases.join(&r.id).is_dir() && releases.join(format!("{}.manifest", r.id)).is_file()),
        "listed complete though its step failed"
    );
    never_partial(&w, "h1");
}

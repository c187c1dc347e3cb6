//! A switch whose connection drops is not a switch the host refused: the
//! engine cannot tell whether `current` moved, so the report claims nothing
//! about what is live there, and the failure policy still tries to switch it
//! back. The host goes down at the moment its switch starts (the observer
//! sees the task start and stops the host's sshd before the task runs), on
//! the real SSH test fleet. Needs root, as CI runs.

use haul_config::Config;
use haul_deploy::{DeployError, Engine, Observer, Progress, ReleaseChoice, Whoami, plan_deploy};
use haul_testfleet::{Fleet, FleetOptions};
use std::sync::{Arc, Mutex};

/// Takes host `0` down when its switch starts, once `armed`.
struct DownOnSwitch {
    fleet: Arc<Fleet>,
    armed: Mutex<bool>,
}

impl Observer for DownOnSwitch {
    fn progress(&self, p: Progress<'_>) {
        if let Progress::Started { host: Some(host), label } = p
            && host == self.fleet.hosts[0].name
            && label == "switch current"
            && std::mem::take(&mut *self.armed.lock().unwrap())
        {
            self.fleet.stop_host(0);
        }
    }
}

fn live(fleet: &Fleet, i: usize) -> Option<String> {
    let link = std::fs::read_link(fleet.hosts[i].path("/srv/app/current")).ok()?;
    Some(link.to_string_lossy().trim_start_matches("releases/").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_switch_whose_connection_drops_leaves_the_live_release_unknown() {
    let fleet = Arc::new(Fleet::start(FleetOptions { hosts: 2, ..FleetOptions::default() }).expect("fleet starts"));
    let project = tempfile::tempdir().unwrap();
    let body = format!(
        "[environments.prod]\nhosts = {}\nfailure = \"rollback\"\n\n[apps.app]\nship = \"src\"\n",
        fleet.names_toml()
    );
    let toml = project.path().join("haul.toml");
    std::fs::write(&toml, fleet.haul_toml(&body)).unwrap();
    std::fs::create_dir_all(project.path().join("src")).unwrap();
    let write = |v: &str| std::fs::write(project.path().join("src/index.html"), v).unwrap();
    let observer = Arc::new(DownOnSwitch { fleet: fleet.clone(), armed: Mutex::new(false) });
    let deploy = || async {
        let config = Config::load(&toml).expect("config loads");
        let plan = plan_deploy(&config, "app", "prod", ReleaseChoice::Build, &[]).expect("plan");
        Engine::new(config, observer.clone(), 4, Whoami::current()).run(&plan).await
    };

    write("v1\n");
    let v1 = deploy().await.expect("first deploy").release.unwrap();
    write("v2\n");
    *observer.armed.lock().unwrap() = true;
    let Err(DeployError::Failed(r)) = deploy().await else { panic!("the deploy fails") };
    let (h1, h2) = (&r.hosts[0], &r.hosts[1]);
    assert_eq!((h1.host.as_str(), h1.status.as_str()), ("h1", "failed"), "{r:?}");
    assert_eq!(h1.reached.as_str(), "switch", "{r:?}");
    let error = h1.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("h1: ") && !error.starts_with("h1: h1:"), "named once: {error}");
    assert_eq!(h1.live, None, "the switch may or may not have run: the report claims nothing: {r:?}");
    assert_eq!(h1.before.as_deref(), Some(v1.as_str()));
    let message = r.message.as_deref().unwrap_or_default();
    assert!(message.contains("h1: could not switch back"), "the failure policy tried: {message}");
    assert_eq!(h2.status.as_str(), "switched_back", "{r:?}");
    assert_eq!(h2.live.as_deref(), Some(v1.as_str()), "{r:?}");
    assert_eq!(live(&fleet, 1).as_deref(), Some(v1.as_str()), "h2 is back on v1");

    fleet.start_host(0).unwrap();
    // Whatever h1 runs, it is one of the two releases, and a rerun converges.
    assert!(live(&fleet, 0).is_some_and(|l| l == v1 || r.release.as_deref() == Some(l.as_str())));
    // Its lock could not be released while it was down: this process still
    // holds it, so it is cleared by hand, as `haul unlock` would.
    let config = Config::load(&toml).unwrap();
    let engine = Engine::new(config, observer.clone(), 4, Whoami::current());
    let cleared = engine.unlock("app", "prod", "h1 went down mid-switch", &[]).await.unwrap();
    assert!(cleared[0].1.as_ref().is_ok_and(Option::is_some), "h1 was still locked: {cleared:?}");
    let v3 = deploy().await.expect("rerun").release.unwrap();
    assert_eq!(live(&fleet, 0).as_deref(), Some(v3.as_str()));
    assert_eq!(live(&fleet, 1).as_deref(), Some(v3.as_str()));
}

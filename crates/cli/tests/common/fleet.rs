//! A project pushed to a fleet of real `sshd` hosts (`haul-testfleet`), for
//! the SSH tests: every host of the fleet is environment `prod`, and a test
//! reads a host's files through its own `/srv`.

use super::Project;
use haul_testfleet::Fleet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A project whose app `app` ships `src/` to every host of `fleet` as
/// environment `prod`; `app` is appended to `[apps.app]`, `env` to
/// `[environments.prod]` (and may open more tables after it).
pub fn project(fleet: &Fleet, app: &str, env: &str) -> Project {
    let body =
        format!("[apps.app]\nship = \"src\"\n{app}\n\n[environments.prod]\nhosts = {}\n{env}\n", fleet.names_toml());
    Project::new(&fleet.haul_toml(&body))
}

/// `path` as host `i` of the fleet sees it.
pub fn on(fleet: &Fleet, i: usize, path: &str) -> PathBuf {
    fleet.hosts[i].path(path)
}

/// The release `current` points to on host `i`.
pub fn live(fleet: &Fleet, i: usize) -> Option<String> {
    let link = std::fs::read_link(on(fleet, i, "/srv/app/current")).ok()?;
    Some(link.strip_prefix("releases").ok()?.display().to_string())
}

/// Deploys `app` to `prod` and returns the new live release.
#[track_caller]
pub fn deploy(p: &Project) -> String {
    let out = p.haul(&["deploy", "app", "prod", "--json"]).ok();
    out.report()["release"].as_str().unwrap().to_string()
}

/// Waits (at most a minute) until `path` exists: a step on a host reached
/// a point.
#[track_caller]
pub fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

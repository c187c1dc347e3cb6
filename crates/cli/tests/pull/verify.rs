//! A wave that names `verifications`: real `haul agent` processes of the
//! next wave switch only once `haul verify … --result pass` is in the
//! store, and a `fail` stops them; `haul deploy` shows the wait.

use crate::common::{Killed, Project, wait_until};
use std::time::Duration;

const WAVES: &str = "waves = [{ name = \"canary\", roles = [\"canary\"], verifications = [\"smoke\"] }, { name = \"rest\" }]\ntimeout = \"60s\"";

/// Every agent report in the store, as text.
fn reports(p: &Project) -> String {
    let mut out = String::new();
    let mut dirs = vec![p.store().join("reports")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

/// Starts the deploy and waits until the canary is live and the other
/// host reports it waits for `smoke`.
fn canary_live_and_rest_waiting(p: &Project) -> Killed {
    let deploy = Killed(p.spawn(&["deploy", "app", "fleet"]));
    wait_until("the canary is live", || p.agent_live("h1").is_some());
    wait_until("h2 waits for smoke", || reports(p).contains("waiting for verification `smoke` of wave `canary`"));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(p.agent_live("h2"), None, "h2 switched before smoke passed");
    deploy
}

/// Waits for `haul deploy` to end: how, and what it said.
fn ended(deploy: &mut Killed) -> (std::process::ExitStatus, String) {
    let status = deploy.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut deploy.0.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn the_next_wave_switches_only_after_the_verification_passes_and_deploy_shows_the_wait() {
    let p = Project::pull(&["h1", "h2"], WAVES, "");
    let _a = p.agent("h1", "canary", &[]);
    let _b = p.agent("h2", "web", &[]);
    let mut deploy = canary_live_and_rest_waiting(&p);
    p.haul(&["verify", "app", "fleet", "--name", "smoke", "--result", "pass"]).ok();
    wait_until("h2 is live", || p.agent_live("h2").is_some());
    assert_eq!(p.agent_live("h2"), p.agent_live("h1"));
    let (status, stderr) = ended(&mut deploy);
    assert!(status.success(), "the deploy ends well once every wave is live: {stderr}");
    let waiting =
        stderr.find("wave `canary` done; waiting for verification `smoke`").unwrap_or_else(|| panic!("{stderr}"));
    let done = stderr.find("wave canary done (h1)").unwrap_or_else(|| panic!("{stderr}"));
    assert!(waiting < done, "{stderr}");
}

#[test]
fn a_failed_verification_stops_the_next_wave() {
    let p = Project::pull(&["h1", "h2"], WAVES, "");
    let _a = p.agent("h1", "canary", &[]);
    let _b = p.agent("h2", "web", &[]);
    let mut deploy = canary_live_and_rest_waiting(&p);
    p.haul(&["verify", "app", "fleet", "--name", "smoke", "--result", "fail"]).ok();
    wait_until("h2 says the wave failed", || {
        reports(&p).contains("verification `smoke` of wave `canary` did not pass")
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(p.agent_live("h2"), None, "h2 switched after smoke failed");
    // `haul deploy` does not wait for its timeout (60 s): the failed
    // verification is the wave's failure, and the policy applies.
    let t = std::time::Instant::now();
    let (status, stderr) = ended(&mut deploy);
    assert!(!status.success(), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(30), "the deploy waited for its timeout: {stderr}");
    assert!(
        stderr.contains("verification `smoke` of wave `canary` did not pass; later waves do not switch"),
        "{stderr}"
    );
}

#[test]
fn with_report_keys_only_a_verification_sealed_by_one_opens_the_next_wave() {
    let p = Project::pull(&["h1", "h2"], &format!("{WAVES}\nreport_keys = [\"keys/agents.pub\"]"), "");
    p.haul(&["key", "new", "agents"]).ok();
    let key = p.path().join("keys/agents.key").display().to_string();
    let seal = [("HAUL_REPORT_KEY", key.as_str())];
    let _a = p.agent("h1", "canary", &seal);
    let _b = p.agent("h2", "web", &seal);
    // Sealed reports are read through `haul status`, not as plain files.
    let mut deploy = Killed(p.spawn(&["deploy", "app", "fleet"]));
    wait_until("h2 waits for smoke", || {
        p.haul(&["status", "app", "fleet", "--json"]).ok().stdout.contains("waiting for verification `smoke`")
    });
    assert!(p.agent_live("h1").is_some() && p.agent_live("h2").is_none());
    // Without a report key, `haul verify` records the ledger's result but
    // writes no result the agents would not believe, and says so.
    let out = p.haul(&["verify", "app", "fleet", "--name", "smoke", "--result", "pass"]).ok();
    assert!(out.stderr.contains("HAUL_REPORT_KEY") && out.stderr.contains("not written to the store"), "{out:?}");
    assert!(!p.store().join("verifications").exists(), "nothing was written");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(p.agent_live("h2"), None, "h2 switched on a verification not sealed");
    // With one, it is sealed, and the next wave goes.
    p.haul_env(&["verify", "app", "fleet", "--name", "smoke", "--result", "pass"], &seal).ok();
    wait_until("h2 is live", || p.agent_live("h2").is_some());
    let (status, stderr) = ended(&mut deploy);
    assert!(status.success(), "{stderr}");
}

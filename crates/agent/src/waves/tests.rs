use super::*;
use haul_bless::{ArchiveRef, Steps, Wave};
use haul_release::ReleaseId;

fn blessing(waves: Vec<Wave>) -> Blessing {
    let r = ArchiveRef { blake3: "00".into(), size: 1 };
    Blessing {
        format: haul_bless::FORMAT,
        app: "web".into(),
        env: "prod".into(),
        version: 7,
        release: ReleaseId::parse("20261123T000000.000Z-abcdefabcdef").unwrap(),
        archive: r.clone(),
        record: r,
        previous: None,
        waves,
        steps: Steps::default(),
        issued: Timestamp::UNIX_EPOCH,
        expires: Timestamp::MAX,
        by: "t".into(),
        reason: None,
        deployment: None,
        report_keys: vec![],
    }
}

fn wave(name: &str, select: Selector) -> Wave {
    Wave { name: name.into(), select, verifications: vec![], min_live: 0 }
}

fn report(host: &str, roles: &[&str], version: u64, phase: AgentPhase, at: Timestamp) -> AgentReport {
    AgentReport {
        host: host.into(),
        app: "web".into(),
        env: "prod".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        labels: BTreeMap::new(),
        wave: None,
        blessing: Some(version),
        release: Some("20261123T000000.000Z-abcdefabcdef".into()),
        live: (phase == AgentPhase::Live).then(|| "20261123T000000.000Z-abcdefabcdef".into()),
        phase,
        error: (phase == AgentPhase::Failed).then(|| "health check failed".into()),
        steps: vec![],
        at,
        agent: "test".into(),
    }
}

fn roles(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hosts_land_in_the_first_wave_that_takes_them() {
    let b = blessing(vec![
        wave("canary", Selector::Roles(vec!["canary".into()])),
        wave("eu", Selector::Labels([("region".to_string(), "eu".to_string())].into())),
        wave("rest", Selector::Rest),
    ]);
    let eu: BTreeMap<String, String> = [("region".to_string(), "eu".to_string())].into();
    assert_eq!(wave_of(&b, "a", &roles(&["web", "canary"]), &eu), 0);
    assert_eq!(wave_of(&b, "b", &roles(&["web"]), &eu), 1);
    assert_eq!(wave_of(&b, "c", &roles(&["web"]), &BTreeMap::new()), 2);
}

#[test]
fn a_host_no_wave_takes_is_in_the_implicit_last_wave() {
    let b = blessing(vec![wave("db", Selector::Roles(vec!["db".into()]))]);
    assert_eq!(wave_of(&b, "x", &roles(&["web"]), &BTreeMap::new()), 1);
    assert_eq!(wave_of(&blessing(vec![]), "x", &[], &BTreeMap::new()), 0);
}

#[test]
fn percent_waves_take_about_their_share_and_always_the_same_hosts() {
    let b = blessing(vec![wave("ten", Selector::Percent(10)), wave("rest", Selector::Rest)]);
    let first: Vec<usize> = (0..1000).map(|i| wave_of(&b, &format!("host-{i}"), &[], &BTreeMap::new())).collect();
    let in_first = first.iter().filter(|w| **w == 0).count();
    assert!((50..150).contains(&in_first), "{in_first} of 1000 in a 10% wave");
    let again: Vec<usize> = (0..1000).map(|i| wave_of(&b, &format!("host-{i}"), &[], &BTreeMap::new())).collect();
    assert_eq!(first, again);
    let none = blessing(vec![wave("none", Selector::Percent(0))]);
    assert_eq!(wave_of(&none, "h", &[], &BTreeMap::new()), 1);
    let all = blessing(vec![wave("all", Selector::Percent(100))]);
    assert_eq!(wave_of(&all, "h", &[], &BTreeMap::new()), 0);
}

#[test]
fn wave_two_waits_until_every_host_of_wave_one_is_live() {
    let b = blessing(vec![wave("canary", Selector::Roles(vec!["canary".into()])), wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let silent = Duration::from_secs(300);
    let mut reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        report("c2", &["canary"], 7, AgentPhase::Waiting, now),
        report("w1", &["web"], 7, AgentPhase::Waiting, now),
    ];
    let p = progress(&b, &reports, now, silent);
    assert!(p.may_switch(0));
    assert!(!p.may_switch(1));
    assert_eq!(p.current(), Some(0));
    assert_eq!(p.waves[0].pending, vec!["c2".to_string()]);
    reports[1] = report("c2", &["canary"], 7, AgentPhase::Live, now);
    let p = progress(&b, &reports, now, silent);
    assert!(p.may_switch(1));
    assert_eq!(p.current(), Some(1));
}

#[test]
fn a_failing_first_wave_host_blocks_wave_two() {
    let b = blessing(vec![wave("canary", Selector::Roles(vec!["canary".into()])), wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        report("c2", &["canary"], 7, AgentPhase::Failed, now),
    ];
    let p = progress(&b, &reports, now, Duration::from_secs(300));
    assert!(!p.may_switch(1));
    assert_eq!(p.failed(), Some(0));
    assert_eq!(p.waves[0].failed, vec![("c2".to_string(), "health check failed".to_string())]);
}

#[test]
fn live_on_an_older_blessing_is_not_live_on_this_one() {
    let b = blessing(vec![wave("canary", Selector::Roles(vec!["canary".into()])), wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let reports = vec![report("c1", &["canary"], 6, AgentPhase::Live, now)];
    let p = progress(&b, &reports, now, Duration::from_secs(300));
    assert!(!p.may_switch(1));
    assert_eq!(p.waves[0].pending, vec!["c1".to_string()]);
}

#[test]
fn silent_hosts_and_empty_waves_do_not_hold_the_rollout_back() {
    let b = blessing(vec![
        wave("db", Selector::Roles(vec!["db".into()])),
        wave("canary", Selector::Roles(vec!["canary".into()])),
        wave("rest", Selector::Rest),
    ]);
    let now = Timestamp::now();
    let old = now - jiff::SignedDuration::from_secs(3600);
    let reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        // Silent since an earlier blessing: a machine that went away.
        report("c2", &["canary"], 6, AgentPhase::Live, old),
        report("other-app", &["canary"], 7, AgentPhase::Waiting, now),
    ];
    let mut reports = reports;
    reports[2].app = "api".into();
    let p = progress(&b, &reports, now, Duration::from_secs(300));
    assert!(p.waves[0].hosts.is_empty());
    assert_eq!(p.waves[1].silent, vec!["c2".to_string()]);
    assert!(p.may_switch(2));
    assert!(p.complete());
}

#[test]
fn a_canary_that_goes_silent_while_switching_does_not_let_the_next_wave_go() {
    let b = blessing(vec![wave("canary", Selector::Roles(vec!["canary".into()])), wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let old = now - jiff::SignedDuration::from_secs(3600);
    let reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        report("c2", &["canary"], 7, AgentPhase::Switch, old),
    ];
    let p = progress(&b, &reports, now, Duration::from_secs(300));
    assert!(!p.may_switch(1), "{p:?}");
    assert_eq!(p.failed(), Some(0));
    assert_eq!(p.waves[0].failed[0].0, "c2");
    assert!(p.waves[0].failed[0].1.contains("went silent"), "{:?}", p.waves[0].failed);
}

fn smoke_gated() -> (Blessing, Vec<AgentReport>) {
    let mut canary = wave("canary", Selector::Roles(vec!["canary".into()]));
    canary.verifications = vec!["smoke".into()];
    let b = blessing(vec![canary, wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let reports =
        vec![report("c1", &["canary"], 7, AgentPhase::Live, now), report("w1", &["web"], 7, AgentPhase::Waiting, now)];
    (b, reports)
}

#[test]
fn a_live_wave_waits_for_its_verification_before_the_next_switches() {
    let (b, reports) = smoke_gated();
    let p = progress(&b, &reports, Timestamp::now(), Duration::from_secs(600)).with_verifications(&b, &BTreeMap::new());
    assert!(p.waves[0].hosts_done());
    assert!(!p.may_switch(1));
    assert_eq!(p.failed(), None);
    assert_eq!(p.waves[0].holding(0).unwrap(), "waiting for verification `smoke` of wave `canary`");
}

#[test]
fn a_passed_verification_lets_the_next_wave_switch() {
    let (b, reports) = smoke_gated();
    let results = [("smoke".to_string(), Outcome::Pass)].into();
    let p = progress(&b, &reports, Timestamp::now(), Duration::from_secs(600)).with_verifications(&b, &results);
    assert!(p.may_switch(1));
    assert_eq!(p.waves[0].holding(0), None);
}

#[test]
fn a_failed_verification_fails_the_wave_and_stops_the_next() {
    let (b, reports) = smoke_gated();
    for bad in [Outcome::Fail, Outcome::Error] {
        let results = [("smoke".to_string(), bad), ("other".to_string(), Outcome::Pass)].into();
        let p = progress(&b, &reports, Timestamp::now(), Duration::from_secs(600)).with_verifications(&b, &results);
        assert!(!p.may_switch(1));
        assert_eq!(p.failed(), Some(0));
        assert!(p.waves[0].holding(0).unwrap().contains("verification `smoke` of wave `canary` did not pass"));
    }
}

#[test]
fn a_verification_does_not_let_a_wave_with_pending_hosts_pass() {
    let (b, mut reports) = smoke_gated();
    reports[0].phase = AgentPhase::Switch;
    reports[0].live = None;
    let results = [("smoke".to_string(), Outcome::Pass)].into();
    let p = progress(&b, &reports, Timestamp::now(), Duration::from_secs(600)).with_verifications(&b, &results);
    assert!(!p.may_switch(1));
    assert!(p.waves[0].holding(0).unwrap().contains("is not live yet: c1"));
}

/// A canary wave with `min_live` cannot be emptied into letting the rest
/// go: with its host's report gone from the store (deleted, or the host
/// replaced before it ever reported), or only silent hosts left, it is
/// not done; it is done once enough of its hosts are live.
#[test]
fn a_wave_with_min_live_is_not_done_by_having_no_live_hosts() {
    let canary = Wave { min_live: 2, ..wave("canary", Selector::Roles(vec!["canary".into()])) };
    let b = blessing(vec![canary, wave("rest", Selector::Rest)]);
    let now = Timestamp::now();
    let old = now - jiff::SignedDuration::from_secs(3600);
    let silent = Duration::from_secs(300);
    let web = report("w1", &["web"], 7, AgentPhase::Waiting, now);

    // No canary report at all.
    let p = progress(&b, std::slice::from_ref(&web), now, silent);
    assert!(!p.may_switch(1), "an emptied canary wave holds the rest back");
    assert_eq!(p.current(), Some(0));
    let why = p.waves[0].holding(0).expect("held");
    assert!(why.contains("0 live host(s) of the 2"), "{why}");

    // Only a canary silent since an earlier blessing, and one live.
    let reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        report("c2", &["canary"], 6, AgentPhase::Live, old),
        web.clone(),
    ];
    let p = progress(&b, &reports, now, silent);
    assert!(!p.may_switch(1), "one live of the two needed");
    assert_eq!(p.failed(), None, "short is waiting, not failed");

    // Two live: done.
    let reports = vec![
        report("c1", &["canary"], 7, AgentPhase::Live, now),
        report("c2", &["canary"], 7, AgentPhase::Live, now),
        web,
    ];
    let p = progress(&b, &reports, now, silent);
    assert!(p.may_switch(1));
    assert_eq!(p.waves[0].holding(0), None);
}

//! What the ledger reports back, and what it admits: events, history,
//! verifications, approvals, quarantine and the promotion gate.

use super::*;

/// Events: every write, in order, with the app and environment.
pub async fn events(url: &str) {
    let l = with_releases(url).await;
    let d1 = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    l.record_host(d1, &host("a"), "alice").await.unwrap();
    l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[host("a")], "alice").await.unwrap();
    let d3 = succeeded(&l, "staging", "r2", Trigger::Deploy, None).await;
    succeeded(&l, "staging", "r1", Trigger::Rollback, Some(d3)).await;
    let events = l.events_after(0, 1000).await.unwrap();
    assert_eq!(events.len() as i64, l.last_event().await.unwrap());
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(&kinds[..3], ["release.registered", "release.registered", "deployment.started"]);
    assert!(kinds.contains(&"deployment.undone") && kinds.contains(&"host.result"), "{kinds:?}");
    let undone = events.iter().find(|e| e.kind == "deployment.undone").unwrap();
    assert_eq!((undone.data["env"].as_str(), undone.data["id"].as_i64()), (Some("staging"), Some(d3)));
    assert_eq!(l.events_after(events[1].seq, 1).await.unwrap(), vec![events[2].clone()]);
}

/// History: newest first, filtered.
pub async fn history(url: &str) {
    let l = with_releases(url).await;
    let d1 = succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    let d2 = l.start_deployment(&deployment("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    l.finish_deployment(d2, DeploymentStatus::SwitchedBack, None, &[], "alice").await.unwrap();
    let d3 = succeeded(&l, "staging", "r2", Trigger::Deploy, None).await;
    let d4 = succeeded(&l, "staging", "r1", Trigger::Rollback, Some(d3)).await;
    succeeded(&l, "qa", "r1", Trigger::Deploy, None).await;
    let all = l.deployments(Some("web"), Some("staging"), 10).await.unwrap();
    assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), vec![d4, d3, d2, d1]);
    assert_eq!(l.deployments(None, Some("prod"), 10).await.unwrap(), vec![]);
    assert_eq!(l.deployments(Some("web"), None, 10).await.unwrap().len(), 5);
    assert_eq!(l.deployments(None, None, 2).await.unwrap().len(), 2);
}

/// Verifications: the newest report of a name supersedes older ones.
pub async fn verifications(url: &str) {
    let l = with_releases(url).await;
    let d = succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    for (name, result) in
        [("smoke", VerificationResult::Fail), ("e2e", VerificationResult::Pass), ("smoke", VerificationResult::Pass)]
    {
        verify(&l, d, name, result).await;
    }
    let vs = l.verifications(d).await.unwrap();
    assert_eq!(
        vs.iter().map(|v| (v.name.as_str(), v.result)).collect::<Vec<_>>(),
        vec![("e2e", VerificationResult::Pass), ("smoke", VerificationResult::Pass)]
    );
    let v = NewVerification {
        deployment: 999_999,
        name: "x".into(),
        result: VerificationResult::Pass,
        link: None,
        reporter: "ci".into(),
    };
    assert_eq!(l.report_verification(&v).await.unwrap_err().to_string(), "no deployment 999999 in the ledger");
}

/// Approvals: once per person.
pub async fn approvals(url: &str) {
    let l = with_releases(url).await;
    l.approve("web", &rid("r1"), "prod", "bob", Some("looks good")).await.unwrap();
    let e = l.approve("web", &rid("r1"), "prod", "bob", None).await.unwrap_err();
    assert_eq!(e.to_string(), format!("bob already approved {R1} of web for prod"));
}

/// Quarantine: nothing deploys, promotes or rolls back to the release again,
/// unless forced, which is recorded.
pub async fn quarantine(url: &str) {
    let l = with_releases(url).await;
    let l2 = Ledger::open(url).await.unwrap();
    l.quarantine("web", &rid("r2"), "leaks memory", "carol").await.unwrap();
    let e = l.quarantine("web", &rid("r2"), "again", "carol").await.unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("release {R2} of web is already quarantined (leaks memory, by carol at ")),
        "{e}"
    );
    for trigger in [Trigger::Deploy, Trigger::Promote, Trigger::Rollback] {
        let e = l.start_deployment(&deployment("prod", "r2", trigger, None), HOUR).await.unwrap_err();
        assert!(e.to_string().starts_with(&format!("release {R2} of web is quarantined by carol at ")), "{e}");
        assert!(e.to_string().ends_with(": leaks memory"), "{e}");
    }
    assert_eq!(l2.quarantined("web", &rid("r2")).await.unwrap().unwrap().reason, "leaks memory");
    let mut forced = deployment("prod", "r2", Trigger::Rollback, None);
    forced.force = Some(Force::default());
    let f = l.start_deployment(&forced, HOUR).await.unwrap();
    l.finish_deployment(f, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let row = l.deployment(f).await.unwrap();
    assert!(row.forced.as_deref().unwrap().starts_with("quarantined by carol at "), "{row:?}");
    let audit = l.events_after(0, 1000).await.unwrap();
    let entry = audit.iter().rfind(|e| e.kind == "deployment.forced").expect("the force is audited");
    assert_eq!((entry.actor.as_str(), entry.data["reason"].as_str()), ("alice", Some("test")));
    assert_eq!(entry.data["id"].as_i64(), Some(f));
}

/// The gate: prod takes staging's releases that passed `smoke` there. `r1`
/// is live in staging (a rollback to it undid `r2`, which is quarantined),
/// its newest `smoke` passed, and bob approved it for prod.
pub async fn gate(url: &str) {
    let l = with_releases(url).await;
    let (_, d4) = staging_rolled_back(&l).await;
    verify(&l, d4, "smoke", VerificationResult::Fail).await;
    verify(&l, d4, "smoke", VerificationResult::Pass).await;
    l.approve("web", &rid("r1"), "prod", "bob", None).await.unwrap();
    l.quarantine("web", &rid("r2"), "leaks memory", "carol").await.unwrap();
    let prod = Pipeline {
        upstream: Some("staging".into()),
        requires: Requirements { verifications: vec!["smoke".into()], approvals: 2, ..Default::default() },
    };
    let v = l.judge("web", "prod", &rid("r1"), Trigger::Promote, &prod).await.unwrap();
    assert!(v.registered && v.refusals == ["1 of 2 approvals for prod (by bob)"], "{v:?}");
    l.approve("web", &rid("r1"), "prod", "dave", None).await.unwrap();
    assert!(l.judge("web", "prod", &rid("r1"), Trigger::Deploy, &prod).await.unwrap().admitted());
    let v = l.judge("web", "prod", &rid("r2"), Trigger::Deploy, &prod).await.unwrap();
    assert_eq!(v.refusals.len(), 2, "{v:?}");
    assert!(v.refusals[0].starts_with("quarantined by carol"), "{v:?}");
    assert!(
        v.refusals[1].starts_with(&format!("prod takes its code from staging, and {R2} never succeeded there")),
        "{v:?}"
    );
    let v = l.judge("web", "prod", "nope", Trigger::Deploy, &prod).await.unwrap();
    assert!(!v.registered && !v.admitted());
    assert_eq!(
        v.message("web", "prod", "nope"),
        "release nope of web is not in the ledger (it was never built and recorded)"
    );
}

/// A rollback may go back to what ran there before, requirements or not.
pub async fn rollback_past_requirements(url: &str) {
    let l = with_releases(url).await;
    succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    succeeded(&l, "qa", "r1", Trigger::Deploy, None).await;
    let qa =
        Pipeline { upstream: Some("staging".into()), requires: Requirements { approvals: 9, ..Default::default() } };
    assert!(l.judge("web", "qa", &rid("r1"), Trigger::Rollback, &qa).await.unwrap().admitted());
    let v = l.judge("web", "qa", &rid("r1"), Trigger::Deploy, &qa).await.unwrap();
    assert_eq!(v.refusals, ["0 of 9 approvals for qa"]);
}

/// An environment that builds its own code takes any known release.
pub async fn own_code_takes_any_release(url: &str) {
    let l = with_releases(url).await;
    assert!(l.judge("web", "qa", &rid("r1"), Trigger::Deploy, &Pipeline::default()).await.unwrap().admitted());
}

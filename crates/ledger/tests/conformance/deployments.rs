//! Releases, deployments and the transitions between their states.

use super::*;

/// Releases: recorded once; the same id with another digest is refused.
pub async fn releases(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    // Opening again finds the schema in place.
    let _l2 = Ledger::open(url).await.unwrap();
    assert!(l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap());
    assert!(!l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap());
    let e = l.register_release(&release("web", "r1", "other"), "ci").await.unwrap_err();
    assert_eq!(e.to_string(), format!("release {R1} of web is already recorded with another digest"));
    l.register_release(&release("web", "r2", "d2"), "ci").await.unwrap();
}

/// Deployments and the transition table.
pub async fn transitions(url: &str) {
    let l = with_releases(url).await;
    let d1 = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    assert_eq!(l.deployment(d1).await.unwrap().status, DeploymentStatus::Running);
    l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[host("a"), host("b")], "alice").await.unwrap();
    let e = l.finish_deployment(d1, DeploymentStatus::Failed, None, &[], "alice").await.unwrap_err();
    assert_eq!(e.to_string(), format!("deployment {d1} is succeeded; it cannot become failed"));
    assert_eq!(l.host_results(d1).await.unwrap(), vec![host("a"), host("b")]);
    assert_eq!(l.live("web", "staging").await.unwrap().unwrap().release, rid("r1"));
}

/// One deployment at a time per app and environment; another environment
/// is free.
pub async fn one_at_a_time(url: &str) {
    let l = with_releases(url).await;
    succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    let d2 = l.start_deployment(&deployment("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    let e = l.start_deployment(&deployment("staging", "r1", Trigger::Promote, None), HOUR).await.unwrap_err();
    assert!(matches!(e, LedgerError::Busy(_)), "{e}");
    assert!(e.to_string().starts_with(&format!("deployment {d2} (deploy of {R2} by alice, started ")), "{e}");
    l.start_deployment(&deployment("qa", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
}

/// Host results are updated while a deployment runs, then by the final
/// report; a failed deploy is not live.
pub async fn host_results(url: &str) {
    let l = with_releases(url).await;
    let d1 = succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    let d2 = l.start_deployment(&deployment("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    let mut a = host("a");
    a.phase = Phase::Stage;
    l.record_host(d2, &a, "alice").await.unwrap();
    assert_eq!(l.host_results(d2).await.unwrap()[0].phase, Phase::Stage);
    l.finish_deployment(d2, DeploymentStatus::SwitchedBack, Some("health check failed"), &[host("a")], "alice")
        .await
        .unwrap();
    let d = l.deployment(d2).await.unwrap();
    assert_eq!((d.status, d.message.as_deref()), (DeploymentStatus::SwitchedBack, Some("health check failed")));
    assert_eq!(l.host_results(d2).await.unwrap(), vec![host("a")]);
    let e = l.record_host(d2, &a, "alice").await.unwrap_err();
    assert_eq!(e.to_string(), format!("deployment {d2} is switched_back; host results can only change while it runs"));
    assert!(d.finished.is_some());
    assert_eq!(l.live("web", "staging").await.unwrap().unwrap().id, d1, "a failed deploy is not live");
}

/// A rollback is linked to what it undoes, which becomes `undone`.
pub async fn rollback_links(url: &str) {
    let l = with_releases(url).await;
    let d3 = succeeded(&l, "staging", "r2", Trigger::Deploy, None).await;
    let d4 = l.start_deployment(&deployment("staging", "r1", Trigger::Rollback, Some(d3)), HOUR).await.unwrap();
    l.finish_deployment(d4, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    assert_eq!(l.deployment(d3).await.unwrap().status, DeploymentStatus::Undone);
    assert_eq!(l.deployment(d4).await.unwrap().undoes, Some(d3));
    let live = l.live("web", "staging").await.unwrap().unwrap();
    assert_eq!((live.id, live.release.as_str(), live.trigger), (d4, R1, Trigger::Rollback));
}

/// Only a rollback names what it undoes, and only a deployment of its own
/// app and environment (refused before a row is written). Which one it
/// undoes is the ledger's to say when it starts: what is live then, or
/// nothing when that runs the release it goes to (a rollback to the live
/// release once marked it `undone`), and a client's stale or wrong guess
/// does not change it.
pub async fn undoes_only_what_it_can(url: &str) {
    let l = with_releases(url).await;
    let d1 = succeeded(&l, "undo", "r1", Trigger::Deploy, None).await;
    let d2 = succeeded(&l, "undo", "r2", Trigger::Deploy, None).await;
    let before = l.deployments(Some("web"), None, 100).await.unwrap().len();
    let cases = [
        (
            deployment("other", "r1", Trigger::Rollback, Some(d2)),
            format!("deployment {d2} is of web in undo, not of web in other"),
        ),
        (
            deployment("undo", "r1", Trigger::Promote, Some(d2)),
            "only a rollback undoes a deployment; this one is a promote".into(),
        ),
    ];
    for (n, want) in cases {
        match l.start_deployment(&n, HOUR).await.unwrap_err() {
            LedgerError::Invalid { field, message } => {
                assert_eq!(field, "undoes");
                assert!(message.starts_with(&want), "{message}");
            }
            e => panic!("{e}"),
        }
    }
    assert_eq!(l.deployments(Some("web"), None, 100).await.unwrap().len(), before, "nothing written");
    // Back to the live release, though the client names d2: nothing undone.
    let again = succeeded(&l, "undo", "r2", Trigger::Rollback, Some(d2)).await;
    assert_eq!(l.deployment(again).await.unwrap().undoes, None);
    assert_eq!(l.deployment(d2).await.unwrap().status, DeploymentStatus::Succeeded);
    // A real rollback, the client naming an old deployment (d1): it undoes
    // the deploy that brought r2 in, not d1 and not the re-assert after it.
    let back = succeeded(&l, "undo", "r1", Trigger::Rollback, Some(d1)).await;
    assert_eq!(l.deployment(back).await.unwrap().undoes, Some(d2));
    assert_eq!(l.deployment(d2).await.unwrap().status, DeploymentStatus::Undone);
    assert_eq!(l.deployment(d1).await.unwrap().status, DeploymentStatus::Succeeded);
    assert_eq!(l.deployment(again).await.unwrap().status, DeploymentStatus::Succeeded);
}

/// A deployment whose runner died is closed once it is older than the stale
/// limit, and the next one proceeds.
pub async fn stale_runner_closed(url: &str) {
    let l = with_releases(url).await;
    let dead = l.start_deployment(&deployment("qa", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    l.start_deployment(&deployment("qa", "r2", Trigger::Deploy, None), std::time::Duration::ZERO).await.unwrap();
    let dead = l.deployment(dead).await.unwrap();
    assert_eq!(dead.status, DeploymentStatus::Failed);
    assert!(dead.message.unwrap().starts_with("abandoned: still running after"));
}

/// A rollback while a deployment runs is refused like any other; forced, it
/// takes over, closing the running one, and says so.
pub async fn rollback_while_running(url: &str) {
    let l = with_releases(url).await;
    let next = l.start_deployment(&deployment("qa", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    let e = l.start_deployment(&deployment("qa", "r1", Trigger::Rollback, None), HOUR).await.unwrap_err();
    assert!(matches!(e, LedgerError::Busy(_)), "{e}");
    assert!(e.to_string().contains("breaks glass with --force --reason"), "{e}");
    let mut forced = deployment("qa", "r1", Trigger::Rollback, None);
    forced.force = Some(Force::default());
    let back = l.start_deployment(&forced, HOUR).await.unwrap();
    let closed = l.deployment(next).await.unwrap();
    assert_eq!(closed.status, DeploymentStatus::Failed);
    assert!(closed.message.unwrap().starts_with("abandoned: a forced rollback by alice took over"));
    let back_row = l.deployment(back).await.unwrap();
    assert!(back_row.forced.unwrap().starts_with(&format!("deployment {next} (deploy of {R2} by alice, started ")));
    l.finish_deployment(back, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
}

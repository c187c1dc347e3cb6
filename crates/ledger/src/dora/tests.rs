use super::*;
use crate::{NewDeployment, NewRelease, ReleaseId};

const HOUR: i64 = 3600;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn rid(tag: &str) -> ReleaseId {
    ReleaseId::parse(&format!("{tag}-0123456789ab")).unwrap()
}

/// Deployment `id` of release `r`, ending `status` at `end` seconds.
fn dep(id: i64, r: &str, trigger: Trigger, status: DeploymentStatus, end: i64, undoes: Option<i64>) -> Deployment {
    Deployment {
        id,
        app: "web".into(),
        env: "prod".into(),
        release: rid(r),
        trigger,
        actor: "alice".into(),
        reason: None,
        config_digest: "cfg".into(),
        status,
        undoes,
        message: None,
        started: at(end - 60),
        finished: Some(at(end)),
        forced: None,
        runner: None,
        lease_until: None,
    }
}

#[test]
fn the_four_measures_follow_their_stated_rules() {
    use DeploymentStatus::*;
    use Trigger::*;
    let rows: Vec<Row> = vec![
        // Built at 0, live at 2h: lead time 2h.
        (dep(1, "r1", Deploy, Succeeded, 2 * HOUR, None), Some(at(0))),
        // Failed at 3h; restored by deployment 3 at 5h.
        (dep(2, "r2", Deploy, Failed, 3 * HOUR, None), Some(at(HOUR))),
        (dep(3, "r3", Promote, Undone, 5 * HOUR, None), Some(at(HOUR))),
        // The rollback undoing 3 at 6h: a restore of 1h, not a change.
        (dep(4, "r1", Rollback, Succeeded, 6 * HOUR, Some(3)), Some(at(0))),
        // Switched back at 7h and never restored.
        (dep(5, "r5", Deploy, SwitchedBack, 7 * HOUR, None), Some(at(6 * HOUR))),
    ];
    let d = measure(&rows, at(0), at(24 * HOUR));
    assert_eq!((d.changes, d.went_live, d.failures, d.unrestored), (4, 2, 3, 1));
    // Lead times 2h (r1) and 4h (r3): median 3h.
    assert_eq!(d.lead_time_s, Some(3.0 * HOUR as f64));
    assert_eq!(d.change_failure_rate, Some(0.75));
    // Restores: 2 → 3 took 2h, 3 undone by 4 took 1h: median 1.5h.
    assert_eq!(d.time_to_restore_s, Some(1.5 * HOUR as f64));
    assert!((d.per_day - 2.0).abs() < 1e-9, "{}", d.per_day);
}

#[test]
fn a_window_with_nothing_in_it_claims_nothing() {
    let d = measure(&[], at(0), at(HOUR));
    assert_eq!((d.changes, d.lead_time_s, d.change_failure_rate, d.time_to_restore_s), (0, None, None, None));
    // Outside the window: not counted.
    let rows = vec![(dep(1, "r1", Trigger::Deploy, DeploymentStatus::Succeeded, 2 * HOUR, None), Some(at(0)))];
    assert_eq!(measure(&rows, at(0), at(HOUR)).changes, 0);
    // A rollback alone is no change.
    let rows = vec![(dep(1, "r1", Trigger::Rollback, DeploymentStatus::Succeeded, 60, None), Some(at(0)))];
    assert_eq!(measure(&rows, at(0), at(HOUR)).changes, 0);
}

async fn recorded(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let built = crate::now();
    for r in ["r1", "r2"] {
        let rel = NewRelease {
            app: "web".into(),
            id: rid(r),
            digest: "d".into(),
            revision: None,
            built_by: "ci".into(),
            created: built,
            files: 1,
            bytes: 1,
        };
        l.register_release(&rel, "ci").await.unwrap();
    }
    let new = |r: &str, trigger, undoes| NewDeployment {
        app: "web".into(),
        env: "prod".into(),
        release: rid(r),
        trigger,
        actor: "alice".into(),
        reason: None,
        config_digest: "cfg".into(),
        undoes,
        force: None,
    };
    let ttl = std::time::Duration::from_secs(3600);
    let d1 = l.start_deployment(&new("r1", Trigger::Deploy, None), ttl).await.unwrap();
    l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let d2 = l.start_deployment(&new("r2", Trigger::Deploy, None), ttl).await.unwrap();
    l.finish_deployment(d2, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let d3 = l.start_deployment(&new("r1", Trigger::Rollback, Some(d2)), ttl).await.unwrap();
    l.finish_deployment(d3, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let since = Timestamp::from_second(built.as_second() - 60).unwrap();
    let d = l.dora("web", "prod", since, crate::now()).await.unwrap();
    assert_eq!((d.changes, d.went_live, d.failures, d.unrestored), (2, 2, 1, 0), "{d:?}");
    assert!(d.lead_time_s.is_some_and(|s| (0.0..60.0).contains(&s)), "{d:?}");
    assert!(d.time_to_restore_s.is_some(), "{d:?}");
    assert_eq!(d.change_failure_rate, Some(0.5));
    // Another environment's deployments are not these.
    assert_eq!(l.dora("web", "stage", since, crate::now()).await.unwrap().changes, 0);

    // What /metrics reads of the same rows.
    let m = l.env_metrics().await.unwrap();
    let e = &m[&("web".to_string(), "prod".to_string())];
    let by: Vec<(&str, u64)> = e.by_status.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(by, [("succeeded", 2), ("undone", 1)]);
    assert_eq!((e.durations_s.len(), e.host_failures), (3, 0));
    assert!(e.last_success.is_some_and(|t| t >= built), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_dora_reads_what_was_recorded() {
    let dir = tempfile::tempdir().unwrap();
    recorded(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_dora_reads_what_was_recorded() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    recorded(&pg.create_database("dora").unwrap()).await;
}

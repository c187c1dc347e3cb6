//! Runner leases on SQLite and PostgreSQL: a run whose runner is certainly
//! dead or whose lease ran out is closed by the next start, saying why; a
//! live one holds the environment (a rollback too is refused while it
//! runs); renewals keep it; rollbacks never fail to record.

mod common;

use common::rid;
use haul_ledger::*;
use std::sync::Arc;
use std::time::Duration;

fn deployment(env: &str, trigger: Trigger, undoes: Option<i64>) -> NewDeployment {
    NewDeployment {
        app: "web".into(),
        env: env.into(),
        release: rid("r1"),
        trigger,
        actor: "alice".into(),
        reason: None,
        config_digest: "cfg".into(),
        undoes,
        force: None,
    }
}

fn runner(pid: u32) -> Runner {
    Runner { machine: "m".into(), pid, boot: Some("b".into()), pidns: Some("ns".into()), start: Some(1) }
}

/// A judge for which pid 666 is dead and anything else alive.
fn lease(pid: u32, ttl: Duration) -> Lease {
    let judge: Judge = Arc::new(|r: &Runner| (r.pid == 666).then(|| format!("process {} is gone", r.pid)));
    Lease { runner: Some(runner(pid)), ttl, judge }
}

const HOUR: Duration = Duration::from_secs(3600);

async fn suite(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    assert!(l.schema_version().await.unwrap() >= 4);
    l.register_release(
        &NewRelease {
            app: "web".into(),
            id: rid("r1"),
            digest: "d".into(),
            revision: None,
            built_by: "ci".into(),
            created: now(),
            files: 1,
            bytes: 1,
        },
        "ci",
    )
    .await
    .unwrap();

    // A dead runner's run is closed at once, saying why.
    let dead = l.start_leased(&deployment("a", Trigger::Deploy, None), HOUR, Some(lease(666, HOUR))).await.unwrap();
    let d = l.deployment(dead).await.unwrap();
    assert_eq!(d.runner, Some(runner(666)));
    assert!(d.lease_until.is_some());
    let next = l.start_leased(&deployment("a", Trigger::Deploy, None), HOUR, Some(lease(7, HOUR))).await.unwrap();
    let d = l.deployment(dead).await.unwrap();
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert_eq!(d.message.as_deref(), Some("abandoned: its runner is gone: process 666 is gone"));
    // A live one with a lease holds the environment.
    let e = l.start_leased(&deployment("a", Trigger::Deploy, None), HOUR, Some(lease(8, HOUR))).await.unwrap_err();
    assert!(matches!(e, LedgerError::Busy(_)), "{e}");
    assert!(
        e.to_string().contains(&format!("deployment {next} (deploy of r1-0123456789ab by alice on m (pid 7)")),
        "{e}"
    );
    l.finish_deployment(next, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let e = l.renew_lease(next, HOUR).await.unwrap_err();
    assert!(e.to_string().contains("is succeeded; its lease is not renewed"), "{e}");

    // A silent runner's lease runs out in seconds; renewing keeps it.
    let short = Duration::from_millis(1500);
    let quiet = l.start_leased(&deployment("b", Trigger::Deploy, None), HOUR, Some(lease(9, short))).await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        l.renew_lease(quiet, short).await.unwrap();
    }
    assert!(l.start_leased(&deployment("b", Trigger::Deploy, None), HOUR, Some(lease(10, HOUR))).await.is_err());
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let after = l.start_leased(&deployment("b", Trigger::Deploy, None), HOUR, Some(lease(10, HOUR))).await.unwrap();
    let q = l.deployment(quiet).await.unwrap();
    assert_eq!(q.status, DeploymentStatus::Failed);
    assert!(q.message.unwrap().starts_with("abandoned: its runner stopped renewing its lease, which ran out at "));
    l.finish_deployment(after, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();

    // `haul unlock` closes a run by hand with its reason.
    let stuck = l.start_leased(&deployment("c", Trigger::Deploy, None), HOUR, Some(lease(11, HOUR))).await.unwrap();
    assert_eq!(l.close_running("web", "c", "ci job cancelled", "bob").await.unwrap(), vec![stuck]);
    let s = l.deployment(stuck).await.unwrap();
    assert_eq!((s.status, s.message.as_deref()), (DeploymentStatus::Failed, Some("closed by hand: ci job cancelled")));
    assert_eq!(l.close_running("web", "c", "again", "bob").await.unwrap(), Vec::<i64>::new());
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
}

/// A rollback is recorded before it switches a host, so a live run holds
/// the environment against it too: it is refused, and the live run is left
/// running.
async fn a_rollback_while_a_live_run_holds_the_environment_is_refused_and_leaves_it_alone(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let live = l.start_leased(&deployment("r", Trigger::Deploy, None), HOUR, Some(lease(20, HOUR))).await.unwrap();
    let back = l.start_leased(&deployment("r", Trigger::Rollback, None), HOUR, Some(lease(21, HOUR))).await;
    assert!(matches!(back, Err(LedgerError::Busy(ref m)) if m.contains("--force --reason")), "{back:?}");
    assert_eq!(l.deployment(live).await.unwrap().status, DeploymentStatus::Running);
    l.finish_deployment(live, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
}

/// Two rollbacks racing both read the same live deployment before they
/// ran; the second must still be recorded (it cannot undo it twice).
async fn racing_rollbacks_both_record_though_one_undoes(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let r2 = NewDeployment { release: rid("r2"), ..deployment("u", Trigger::Deploy, None) };
    let d = l.start_leased(&r2, HOUR, Some(lease(30, HOUR))).await.unwrap();
    l.finish_deployment(d, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    for _ in 0..2 {
        let back = l.start_leased(&deployment("u", Trigger::Rollback, Some(d)), HOUR, None).await.unwrap();
        l.finish_deployment(back, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    }
    assert_eq!(l.deployment(d).await.unwrap().status, DeploymentStatus::Undone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_leases() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    suite(&url).await;
    a_rollback_while_a_live_run_holds_the_environment_is_refused_and_leaves_it_alone(&url).await;
    racing_rollbacks_both_record_though_one_undoes(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("leases").unwrap();
    suite(&url).await;
    a_rollback_while_a_live_run_holds_the_environment_is_refused_and_leaves_it_alone(&url).await;
    racing_rollbacks_both_record_though_one_undoes(&url).await;
}

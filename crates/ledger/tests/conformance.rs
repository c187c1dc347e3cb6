//! One conformance suite, run against SQLite and against a real PostgreSQL
//! started on a loopback port: the ledger must behave the same on both.

mod common;

use common::rid;
use haul_ledger::*;

/// The ids `rid("r1")` and `rid("r2")` in messages.
const R1: &str = "r1-0123456789ab";
const R2: &str = "r2-0123456789ab";

fn release(app: &str, id: &str, digest: &str) -> NewRelease {
    NewRelease {
        app: app.into(),
        id: rid(id),
        digest: digest.into(),
        revision: Some("abc123".into()),
        built_by: "ci".into(),
        created: now(),
        files: 3,
        bytes: 42,
    }
}

fn deployment(env: &str, rel: &str, trigger: Trigger, undoes: Option<i64>) -> NewDeployment {
    NewDeployment {
        app: "web".into(),
        env: env.into(),
        release: rid(rel),
        trigger,
        actor: "alice".into(),
        reason: Some("test".into()),
        config_digest: "cfg".into(),
        undoes,
        force: None,
    }
}

fn host(h: &str) -> HostResult {
    HostResult { host: h.into(), phase: Phase::Verify, status: HostStatus::Ok, error: None, elapsed_ms: 12 }
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

async fn suite(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    // Opening again finds the schema in place.
    let l2 = Ledger::open(url).await.unwrap();

    // Releases: recorded once; the same id with another digest is refused.
    assert!(l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap());
    assert!(!l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap());
    let e = l.register_release(&release("web", "r1", "other"), "ci").await.unwrap_err();
    assert_eq!(e.to_string(), format!("release {R1} of web is already recorded with another digest"));
    l.register_release(&release("web", "r2", "d2"), "ci").await.unwrap();

    // Deployments and the transition table.
    let d1 = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    assert_eq!(l.deployment(d1).await.unwrap().status, DeploymentStatus::Running);
    l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[host("a"), host("b")], "alice").await.unwrap();
    let e = l.finish_deployment(d1, DeploymentStatus::Failed, None, &[], "alice").await.unwrap_err();
    assert_eq!(e.to_string(), format!("deployment {d1} is succeeded; it cannot become failed"));
    assert_eq!(l.host_results(d1).await.unwrap(), vec![host("a"), host("b")]);
    assert_eq!(l.live("web", "staging").await.unwrap().unwrap().release, rid("r1"));

    let d2 = l.start_deployment(&deployment("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    // One deployment at a time per app and environment; another app or
    // environment is free.
    let e = l.start_deployment(&deployment("staging", "r1", Trigger::Promote, None), HOUR).await.unwrap_err();
    assert!(matches!(e, LedgerError::Busy(_)), "{e}");
    assert!(e.to_string().starts_with(&format!("deployment {d2} (deploy of {R2} by alice, started ")), "{e}");
    // Host results are updated while it runs, then by the final report.
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

    // A rollback is linked to what it undoes, which becomes `undone`.
    let d3 = l.start_deployment(&deployment("staging", "r2", Trigger::Deploy, None), HOUR).await.unwrap();
    l.finish_deployment(d3, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    let d4 = l.start_deployment(&deployment("staging", "r1", Trigger::Rollback, Some(d3)), HOUR).await.unwrap();
    l.finish_deployment(d4, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    assert_eq!(l.deployment(d3).await.unwrap().status, DeploymentStatus::Undone);
    assert_eq!(l.deployment(d4).await.unwrap().undoes, Some(d3));
    let live = l.live("web", "staging").await.unwrap().unwrap();
    assert_eq!((live.id, live.release.as_str(), live.trigger), (d4, R1, Trigger::Rollback));

    // A deployment whose runner died is closed once it is older than the
    // stale limit, and the next one proceeds.
    let dead = l.start_deployment(&deployment("qa", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    let next =
        l.start_deployment(&deployment("qa", "r2", Trigger::Deploy, None), std::time::Duration::ZERO).await.unwrap();
    let dead = l.deployment(dead).await.unwrap();
    assert_eq!(dead.status, DeploymentStatus::Failed);
    assert!(dead.message.unwrap().starts_with("abandoned: still running after"));
    // A rollback while a deployment runs is refused like any other; forced,
    // it takes over, closing the running one, and says so.
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

    // Events: every write, in order, with the app and environment.
    let events = l.events_after(0, 1000).await.unwrap();
    assert_eq!(events.len() as i64, l.last_event().await.unwrap());
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(&kinds[..3], ["release.registered", "release.registered", "deployment.started"]);
    assert!(kinds.contains(&"deployment.undone") && kinds.contains(&"host.result"), "{kinds:?}");
    let undone = events.iter().find(|e| e.kind == "deployment.undone").unwrap();
    assert_eq!((undone.data["env"].as_str(), undone.data["id"].as_i64()), (Some("staging"), Some(d3)));
    assert_eq!(l.events_after(events[1].seq, 1).await.unwrap(), vec![events[2].clone()]);

    // History: newest first, filtered.
    let all = l.deployments(Some("web"), Some("staging"), 10).await.unwrap();
    assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), vec![d4, d3, d2, d1]);
    assert_eq!(l.deployments(None, Some("prod"), 10).await.unwrap(), vec![]);
    assert_eq!(l.deployments(Some("web"), None, 10).await.unwrap().len(), 7);
    assert_eq!(l.deployments(None, None, 2).await.unwrap().len(), 2);

    // Verifications: the newest report of a name supersedes older ones.
    for (name, result) in
        [("smoke", VerificationResult::Fail), ("e2e", VerificationResult::Pass), ("smoke", VerificationResult::Pass)]
    {
        let v = NewVerification {
            deployment: d4,
            name: name.into(),
            result,
            link: Some("https://ci/1".into()),
            reporter: "ci".into(),
        };
        l.report_verification(&v).await.unwrap();
    }
    let vs = l.verifications(d4).await.unwrap();
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

    // Approvals: once per person.
    l.approve("web", &rid("r1"), "prod", "bob", Some("looks good")).await.unwrap();
    let e = l.approve("web", &rid("r1"), "prod", "bob", None).await.unwrap_err();
    assert_eq!(e.to_string(), format!("bob already approved {R1} of web for prod"));

    // Quarantine: nothing deploys, promotes or rolls back to the release
    // again, unless forced, which is recorded.
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

    // The gate: prod takes staging's releases that passed `smoke` there.
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
    // A rollback may go back to what ran there before, requirements or not.
    let qa =
        Pipeline { upstream: Some("staging".into()), requires: Requirements { approvals: 9, ..Default::default() } };
    assert!(l.judge("web", "qa", &rid("r1"), Trigger::Rollback, &qa).await.unwrap().admitted());
    let v = l.judge("web", "qa", &rid("r1"), Trigger::Deploy, &qa).await.unwrap();
    assert_eq!(v.refusals, ["0 of 9 approvals for qa"]);
    // An environment that builds its own code takes any known release.
    assert!(l.judge("web", "qa", &rid("r1"), Trigger::Deploy, &Pipeline::default()).await.unwrap().admitted());

    // Two pools writing at once: every write lands, the chain holds.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let l = if i % 2 == 0 { l.clone() } else { l2.clone() };
        tasks.push(tokio::spawn(async move { l.approve("web", &rid("r1"), "qa", &format!("user{i}"), None).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Writes committed together (group commit): a refused one among them is
    // undone alone, the others land, and each caller hears its own answer.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move { l.approve("web", &rid("r2"), "qa", &format!("dup{}", i / 2), None).await })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => {}
            Err(LedgerError::Refused(m)) => {
                assert!(m.contains(&format!(" already approved {R2} of web for qa")), "{m}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 12);
    // A write that fails after writing (host results, then a transition
    // the table refuses) leaves nothing behind, even amid a batch.
    let others: Vec<_> = (0..16)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move { l.approve("web", &rid("r1"), "load", &format!("u{i}"), None).await })
        })
        .collect();
    let e = l.finish_deployment(d1, DeploymentStatus::Failed, None, &[host("zzz")], "alice").await.unwrap_err();
    assert!(e.to_string().contains("cannot become failed"), "{e}");
    for t in others {
        t.await.unwrap().unwrap();
    }
    assert!(l.host_results(d1).await.unwrap().iter().all(|h| h.host != "zzz"));
    assert_eq!(l.approvals("web", &rid("r2"), "qa").await.unwrap().len(), 12);
    let report = l.verify_audit().await.unwrap();
    assert_eq!(report.broken, None);
    assert!(report.entries > 30, "{report:?}");

    // Tampering is found: a changed entry, then a removed one, then a gap.
    l.execute_raw("UPDATE audit SET data = '{}' WHERE seq = 3").await.unwrap();
    let r = l.verify_audit().await.unwrap();
    assert_eq!(r.broken, Some((3, "entry 3 was changed".into())));
}

async fn tamper_removals(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    for i in 0..5 {
        l.register_release(&release("api", &format!("r{i}"), &format!("d{i}")), "ci").await.unwrap();
    }
    assert_eq!(l.verify_audit().await.unwrap(), AuditReport { entries: 5, broken: None });
    l.execute_raw("DELETE FROM audit WHERE seq = 5").await.unwrap();
    assert_eq!(l.verify_audit().await.unwrap().broken, Some((5, "entries after 4 were removed".into())));
    l.execute_raw("DELETE FROM audit WHERE seq = 2").await.unwrap();
    assert_eq!(l.verify_audit().await.unwrap().broken, Some((2, "entry 2 is missing".into())));
}

/// A ledger made at schema version 1 (before the webhook outbox and the
/// record of forced deployments) is brought up to date when opened, its
/// records kept.
async fn upgrade(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    l.register_release(&release("old", "r1", "d1"), "ci").await.unwrap();
    let d = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    for t in ["webhook_attempts", "webhook_deliveries", "webhook_cursors"] {
        l.execute_raw(&format!("DROP TABLE {t}")).await.unwrap();
    }
    for c in ["forced", "runner", "lease_until"] {
        l.execute_raw(&format!("ALTER TABLE deployments DROP COLUMN {c}")).await.unwrap();
    }
    l.execute_raw("UPDATE haul_schema SET version = 1").await.unwrap();
    drop(l);
    // Several openers at once: the migration runs once.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let url = url.to_string();
                async move { Ledger::open(&url).await }
            })
        })
        .collect();
    for o in opened {
        o.await.unwrap().unwrap();
    }
    let l = Ledger::open(url).await.unwrap();
    assert_eq!(l.schema_version().await.unwrap(), 4);
    assert_eq!(l.webhook_cursors().await.unwrap(), vec![]);
    assert_eq!(l.deployment(d).await.unwrap().forced, None, "an old deployment was not forced");
    assert_eq!(l.releases("old", None, 10).await.unwrap().len(), 1);
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
}

/// A stored value the model cannot hold is an error naming the table, the
/// column and the value, on every read of it: an unknown status once read
/// as `running`, an unknown trigger as `deploy`, a bad release id or time as
/// whatever text was there.
async fn unknown_values_are_read_errors(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap();
    let d = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    l.record_host(d, &host("a"), "alice").await.unwrap();
    l.report_verification(&NewVerification {
        deployment: d,
        name: "smoke".into(),
        result: VerificationResult::Pass,
        link: None,
        reporter: "ci".into(),
    })
    .await
    .unwrap();
    let expect_bad = |e: LedgerError, table: &str, column: &str, value: &str| match &e {
        LedgerError::BadRow { table: t, column: c, message } => {
            assert_eq!((*t, c.as_str()), (table, column), "{e}");
            assert!(message.contains(value), "{e}");
            assert!(e.to_string().contains(&format!("table `{table}`, column `{column}`")), "{e}");
        }
        e => panic!("not a bad row: {e}"),
    };
    let cases = [
        ("deployments", "status", "'running'", "paused"),
        ("deployments", "trigger", "'deploy'", "cron"),
        ("deployments", "release", "'r1-0123456789ab'", "../etc/passwd"),
        ("deployments", "started", "started", "yesterday"),
        ("deployments", "lease_until", "NULL", "soon"),
    ];
    for (table, column, restore, value) in cases {
        let saved = l.deployment(d).await.unwrap();
        l.execute_raw(&format!("UPDATE {table} SET {column} = '{value}' WHERE id = {d}")).await.unwrap();
        expect_bad(l.deployment(d).await.unwrap_err(), table, column, value);
        expect_bad(l.deployments(Some("web"), None, 10).await.unwrap_err(), table, column, value);
        if column != "status" {
            // (`running` looks for status `running`: there is none.)
            expect_bad(l.running("web", "staging").await.unwrap_err(), table, column, value);
        }
        let restore =
            if restore == "started" { format!("'{}'", time::text(saved.started)) } else { restore.to_string() };
        l.execute_raw(&format!("UPDATE {table} SET {column} = {restore} WHERE id = {d}")).await.unwrap();
        assert_eq!(l.deployment(d).await.unwrap(), saved, "restored");
    }
    for (column, value) in [("phase", "connect"), ("status", "lost")] {
        l.execute_raw(&format!("UPDATE host_results SET {column} = '{value}' WHERE deployment = {d}")).await.unwrap();
        expect_bad(l.host_results(d).await.unwrap_err(), "host_results", column, value);
        expect_bad(l.host_history("a", 10).await.unwrap_err(), "host_results", column, value);
        let good = if column == "phase" { "verify" } else { "ok" };
        l.execute_raw(&format!("UPDATE host_results SET {column} = '{good}' WHERE deployment = {d}")).await.unwrap();
    }
    assert_eq!(l.host_results(d).await.unwrap(), vec![host("a")]);
    l.execute_raw(&format!("UPDATE verifications SET result = 'maybe' WHERE deployment = {d}")).await.unwrap();
    expect_bad(l.verifications(d).await.unwrap_err(), "verifications", "result", "maybe");
    l.execute_raw("UPDATE releases SET created = 'last week'").await.unwrap();
    expect_bad(l.releases("web", None, 10).await.unwrap_err(), "releases", "created", "last week");
}

/// Each case as its own test on each backend, so that a failure names both:
/// `sqlite::suite`, `postgres::upgrade`. Each PostgreSQL case starts its own
/// server (nextest runs each test in its own process, so a shared one would
/// be one per test all the same, and a static one would outlive the test).
macro_rules! cases {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
                    super::$case(&pg.create_database(stringify!($case)).unwrap()).await;
                }
            )+
        }
    };
}

cases!(suite, tamper_removals, upgrade, unknown_values_are_read_errors);

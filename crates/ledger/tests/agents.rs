//! Agents' latest reports in the ledger, on SQLite and on a real PostgreSQL:
//! an older report never replaces a newer one, an idle beat is not audited,
//! and a report's host result lands only on a running deployment of its own
//! app and environment.

#[path = "common/mod.rs"]
mod common;

use common::rid;
use haul_api::agents::AgentPhase;
use haul_ledger::*;

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

fn seen(host: &str, phase: AgentPhase, at: &str) -> AgentSeen {
    AgentSeen {
        app: "web".into(),
        env: "prod".into(),
        host: host.into(),
        roles: vec!["app".into()],
        labels: [("zone".to_string(), "a".to_string())].into(),
        wave: Some(0),
        blessing: Some(3),
        release: Some("r1-0123456789ab".into()),
        live: None,
        phase,
        error: None,
        at: at.parse().unwrap(),
        agent: "0.1.0".into(),
    }
}

fn result(host: &str, status: HostStatus) -> HostResult {
    HostResult { host: host.into(), phase: Phase::Stage, status, error: None, elapsed_ms: 5 }
}

async fn audited(l: &Ledger, kind: &str) -> usize {
    l.events_after(0, 10_000).await.unwrap().into_iter().filter(|e| e.kind == kind).count()
}

async fn deployment(l: &Ledger, env: &str) -> i64 {
    l.register_release(
        &NewRelease {
            app: "web".into(),
            id: rid("r1"),
            digest: "d1".into(),
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
    let d = NewDeployment {
        app: "web".into(),
        env: env.into(),
        release: rid("r1"),
        trigger: Trigger::Deploy,
        actor: "alice".into(),
        reason: None,
        config_digest: "cfg".into(),
        undoes: None,
        force: None,
    };
    l.start_deployment(&d, HOUR).await.unwrap()
}

/// The newest report wins, whatever order they arrive in; the same report
/// twice is recognised; only phase changes are audited.
async fn older_report_never_replaces_newer(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let first = seen("h1", AgentPhase::Download, "2026-01-01T00:00:01Z");
    assert_eq!(
        l.record_agent(&first, None, "agent").await.unwrap(),
        AgentWrite::Recorded { changed: true, deployment: None }
    );
    assert_eq!(l.record_agent(&first, None, "agent").await.unwrap(), AgentWrite::Same);
    let live = seen("h1", AgentPhase::Live, "2026-01-01T00:00:05Z");
    l.record_agent(&live, None, "agent").await.unwrap();
    let late = seen("h1", AgentPhase::Switch, "2026-01-01T00:00:03Z");
    match l.record_agent(&late, None, "agent").await.unwrap() {
        AgentWrite::Older { newer } => assert_eq!(newer, live.at),
        other => panic!("an older report was taken: {other:?}"),
    }
    let rows = l.agents("web", "prod").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].seen, live, "the newest report stands");
    // A heartbeat: same phase, later time. Recorded, not audited.
    let before = audited(&l, "agent.reported").await;
    assert_eq!(before, 2);
    let beat = seen("h1", AgentPhase::Live, "2026-01-01T00:10:00Z");
    assert_eq!(
        l.record_agent(&beat, None, "agent").await.unwrap(),
        AgentWrite::Recorded { changed: false, deployment: None }
    );
    assert_eq!(audited(&l, "agent.reported").await, before, "an idle beat is not audited");
    assert_eq!(l.agent_at("web", "prod", "h1").await.unwrap(), Some(beat.at));
    assert_eq!(l.agents("web", "prod").await.unwrap()[0].seen.at, beat.at);
    // Other environments and apps are apart.
    assert!(l.agents("web", "staging").await.unwrap().is_empty());
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
}

/// A report's host result lands on a running deployment of its own app
/// and environment only, and never rewrites a finished one.
async fn host_result_only_on_running_deployment(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let d = deployment(&l, "prod").await;
    let w = l
        .record_agent(
            &seen("h1", AgentPhase::Download, "2026-01-01T00:00:01Z"),
            Some((d, result("h1", HostStatus::Running))),
            "agent",
        )
        .await
        .unwrap();
    assert_eq!(w, AgentWrite::Recorded { changed: true, deployment: Some(d) });
    assert_eq!(l.host_results(d).await.unwrap(), vec![result("h1", HostStatus::Running)]);
    // Same phase again: the deployment already holds it.
    let w = l
        .record_agent(
            &seen("h1", AgentPhase::Download, "2026-01-01T00:00:02Z"),
            Some((d, result("h1", HostStatus::Ok))),
            "agent",
        )
        .await
        .unwrap();
    assert_eq!(w, AgentWrite::Recorded { changed: false, deployment: None });
    // A report naming a deployment of another environment: the row only.
    let mut other = seen("h2", AgentPhase::Live, "2026-01-01T00:00:03Z");
    other.env = "staging".into();
    let w = l.record_agent(&other, Some((d, result("h2", HostStatus::Ok))), "agent").await.unwrap();
    assert_eq!(w, AgentWrite::Recorded { changed: true, deployment: None });
    // A deployment that does not exist: the row only.
    let w = l
        .record_agent(
            &seen("h3", AgentPhase::Live, "2026-01-01T00:00:03Z"),
            Some((d + 100, result("h3", HostStatus::Ok))),
            "agent",
        )
        .await
        .unwrap();
    assert_eq!(w, AgentWrite::Recorded { changed: true, deployment: None });
    l.finish_deployment(d, DeploymentStatus::Failed, Some("gave up"), &[], "alice").await.unwrap();
    let w = l
        .record_agent(
            &seen("h1", AgentPhase::Live, "2026-01-01T00:00:09Z"),
            Some((d, result("h1", HostStatus::Ok))),
            "agent",
        )
        .await
        .unwrap();
    assert_eq!(w, AgentWrite::Recorded { changed: true, deployment: None });
    assert_eq!(
        l.host_results(d).await.unwrap(),
        vec![result("h1", HostStatus::Running)],
        "a finished deployment is kept"
    );
}

/// Text the ledger cannot keep is refused, naming the field.
async fn control_characters_refused(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let mut a = seen("h1", AgentPhase::Failed, "2026-01-01T00:00:01Z");
    a.roles.push("bad\u{1b}[31m".into());
    match l.record_agent(&a, None, "agent").await.unwrap_err() {
        LedgerError::Invalid { field, .. } => assert_eq!(field, "roles[1]"),
        e => panic!("{e}"),
    }
    let mut a = seen("h1", AgentPhase::Failed, "2026-01-01T00:00:01Z");
    a.error = Some("line one\nline two".into());
    a.blessing = Some(u64::MAX);
    match l.record_agent(&a, None, "agent").await.unwrap_err() {
        LedgerError::Invalid { field, .. } => assert_eq!(field, "blessing"),
        e => panic!("{e}"),
    }
    assert!(l.agents("web", "prod").await.unwrap().is_empty());
}

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

cases!(older_report_never_replaces_newer, host_result_only_on_running_deployment, control_characters_refused);

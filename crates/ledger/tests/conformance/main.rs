//! One conformance suite, run against SQLite and against a real PostgreSQL
//! started on a loopback port: the ledger must behave the same on both.

#[path = "../common/mod.rs"]
mod common;
mod content;
mod deployments;
mod records;
mod schema;
mod secrets;
mod writes;

pub use common::rid;
pub use haul_ledger::*;

/// The ids `rid("r1")` and `rid("r2")` in messages.
pub const R1: &str = "r1-0123456789ab";
pub const R2: &str = "r2-0123456789ab";

pub fn release(app: &str, id: &str, digest: &str) -> NewRelease {
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

pub fn deployment(env: &str, rel: &str, trigger: Trigger, undoes: Option<i64>) -> NewDeployment {
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

pub fn host(h: &str) -> HostResult {
    HostResult { host: h.into(), phase: Phase::Verify, status: HostStatus::Ok, error: None, elapsed_ms: 12 }
}

pub const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// A ledger opened on `url`, with releases `r1` and `r2` of `web` recorded.
pub async fn with_releases(url: &str) -> Ledger {
    let l = Ledger::open(url).await.unwrap();
    l.register_release(&release("web", "r1", "d1"), "ci").await.unwrap();
    l.register_release(&release("web", "r2", "d2"), "ci").await.unwrap();
    l
}

/// Deploys `rel` of `web` to `env` by `trigger` and records it succeeded.
pub async fn succeeded(l: &Ledger, env: &str, rel: &str, trigger: Trigger, undoes: Option<i64>) -> i64 {
    let d = l.start_deployment(&deployment(env, rel, trigger, undoes), HOUR).await.unwrap();
    l.finish_deployment(d, DeploymentStatus::Succeeded, None, &[], "alice").await.unwrap();
    d
}

/// Staging as the suite leaves it: `r1` deployed, `r2` deployed, then
/// rolled back to `r1`. Returns the deploy of `r2` (undone) and the rollback.
pub async fn staging_rolled_back(l: &Ledger) -> (i64, i64) {
    succeeded(l, "staging", "r1", Trigger::Deploy, None).await;
    let d3 = succeeded(l, "staging", "r2", Trigger::Deploy, None).await;
    (d3, succeeded(l, "staging", "r1", Trigger::Rollback, Some(d3)).await)
}

/// Reports verification `name` of deployment `d`.
pub async fn verify(l: &Ledger, d: i64, name: &str, result: VerificationResult) {
    let v = NewVerification {
        deployment: d,
        name: name.into(),
        result,
        link: Some("https://ci/1".into()),
        reporter: "ci".into(),
    };
    l.report_verification(&v).await.unwrap();
}

/// Each case as its own test on each backend, so that a failure names both:
/// `sqlite::releases`, `postgres::upgrade`. Each PostgreSQL case starts its own
/// server (nextest runs each test in its own process, so a shared one would
/// be one per test all the same, and a static one would outlive the test).
macro_rules! cases {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$module::$case(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
                    super::$module::$case(&pg.create_database(stringify!($case)).unwrap()).await;
                }
            )+
        }
    };
}

cases!(
    content::content_syncs,
    deployments::releases,
    deployments::transitions,
    deployments::one_at_a_time,
    deployments::host_results,
    deployments::rollback_links,
    deployments::undoes_only_what_it_can,
    deployments::stale_runner_closed,
    deployments::rollback_while_running,
    records::events,
    records::history,
    records::verifications,
    records::approvals,
    records::quarantine,
    records::gate,
    records::rollback_past_requirements,
    records::own_code_takes_any_release,
    writes::two_pools_at_once,
    writes::group_commit,
    writes::failing_write_leaves_nothing,
    writes::tamper_changed,
    writes::tamper_removals,
    schema::upgrade,
    schema::unknown_values_are_read_errors,
    secrets::secret_digests,
);

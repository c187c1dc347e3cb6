//! One bad write in a group commit fails alone: a text field the ledger
//! refuses, or a row the database itself refuses (here a constraint added
//! for the test), leaves the writes batched with it committed. Run on
//! SQLite and on a real PostgreSQL.

mod common;

use common::rid;
use haul_ledger::*;
use std::sync::Arc;

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

async fn running_deployment(l: &Ledger) -> i64 {
    let r = NewRelease {
        app: "web".into(),
        id: rid("r1"),
        digest: "d1".into(),
        revision: None,
        built_by: "ci".into(),
        created: now(),
        files: 1,
        bytes: 1,
    };
    l.register_release(&r, "ci").await.unwrap();
    let d = NewDeployment {
        app: "web".into(),
        env: "staging".into(),
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

/// Thirty verifications at once, the one at `bad` named `poison`: returns
/// each write's outcome in order.
async fn thirty_verifications(l: &Arc<Ledger>, id: i64, poison: &str) -> Vec<Result<i64, LedgerError>> {
    let writes: Vec<_> = (0..30)
        .map(|i| {
            let l = l.clone();
            let name = if i == 17 { poison.to_string() } else { format!("check{i}") };
            tokio::spawn(async move {
                let v = NewVerification {
                    deployment: id,
                    name,
                    result: VerificationResult::Pass,
                    link: None,
                    reporter: "ci".into(),
                };
                l.report_verification(&v).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for w in writes {
        out.push(w.await.unwrap());
    }
    out
}

async fn one_bad_write_fails_alone(url: &str, refuse_sql: &[&str]) {
    let l = Arc::new(Ledger::open(url).await.unwrap());
    let id = running_deployment(&l).await;

    // A NUL byte (which PostgreSQL cannot store) is refused before the batch.
    let out = thirty_verifications(&l, id, "smo\0ke").await;
    let refused: Vec<_> = out.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "{out:?}");
    assert!(matches!(refused[0], LedgerError::Invalid { field, .. } if field == "name"), "{refused:?}");
    assert_eq!(refused[0].to_string(), "`name` holds a NUL byte at character 4");
    assert_eq!(l.verifications(id).await.unwrap().len(), 29);

    // A row the database refuses (in the batch's deferred inserts) fails
    // only the write that carried it.
    for sql in refuse_sql {
        l.execute_raw(sql).await.unwrap();
    }
    let out = thirty_verifications(&l, id, "poison").await;
    assert!(out.iter().enumerate().all(|(i, r)| r.is_err() == (i == 17)), "{out:?}");
    assert_eq!(l.verifications(id).await.unwrap().len(), 29, "the 29 honest names were reported again");

    // The same for a write whose own statement the database refuses.
    let approvals: Vec<_> = (0..30)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move {
                let comment = if i == 5 { "poison" } else { "fine" };
                l.approve("web", &rid("r1"), "prod", &format!("person{i}"), Some(comment)).await
            })
        })
        .collect();
    let mut ok = 0;
    for (i, a) in approvals.into_iter().enumerate() {
        let r = a.await.unwrap();
        assert_eq!(r.is_err(), i == 5, "{i}: {r:?}");
        ok += usize::from(r.is_ok());
    }
    assert_eq!(ok, 29);
    assert_eq!(l.approval_list("web", None, None, None, 100).await.unwrap().len(), 29);
    assert_eq!(l.verify_audit().await.unwrap().broken, None, "the chain holds only what was committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_write_in_a_batch_fails_alone_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    one_bad_write_fails_alone(
        &url,
        &[
            "CREATE TRIGGER refuse_v BEFORE INSERT ON verifications WHEN NEW.name = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
            "CREATE TRIGGER refuse_a BEFORE INSERT ON approvals WHEN NEW.comment = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_write_in_a_batch_fails_alone_on_postgres() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    one_bad_write_fails_alone(
        &pg.create_database("isolation").unwrap(),
        &[
            "ALTER TABLE verifications ADD CONSTRAINT refuse_v CHECK (name <> 'poison')",
            "ALTER TABLE approvals ADD CONSTRAINT refuse_a CHECK (comment IS DISTINCT FROM 'poison')",
        ],
    )
    .await;
}

//! A PostgreSQL ledger whose server stops: reads and writes fail as
//! `Unavailable` (what a server answers 503 for) within seconds, nothing
//! refused is half-written, and the same `Ledger` works again once the
//! server is back.

mod common;

use common::rid;
use haul_ledger::*;
use std::time::{Duration, Instant};

fn release(id: &str) -> NewRelease {
    NewRelease {
        app: "web".into(),
        id: rid(id),
        digest: format!("d-{id}"),
        revision: None,
        built_by: "ci".into(),
        created: now(),
        files: 1,
        bytes: 1,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_database_is_unavailable_not_failed_and_the_ledger_recovers() {
    let mut pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("unavailable").unwrap();
    let l = Ledger::open(&url).await.unwrap();
    l.register_release(&release("r1"), "ci").await.unwrap();
    tokio::task::block_in_place(|| pg.stop()).expect("PostgreSQL stops");

    let started = Instant::now();
    let read = l.deployments(None, None, 10).await.unwrap_err();
    assert!(read.is_unavailable(), "{read:?}");
    let write = l.register_release(&release("r2"), "ci").await.unwrap_err();
    assert!(write.is_unavailable(), "{write:?}");
    assert!(write.to_string().starts_with("ledger: the database is unavailable"), "{write}");
    assert!(started.elapsed() < Duration::from_secs(20), "told within seconds, not after {:?}", started.elapsed());

    tokio::task::block_in_place(|| pg.restart()).expect("PostgreSQL restarts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while l.deployments(None, None, 10).await.is_err() {
        assert!(Instant::now() < deadline, "the ledger never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(l.register_release(&release("r2"), "ci").await.unwrap(), "r2 was not half-written before");
    assert!(l.verify_audit().await.unwrap().broken.is_none());
}

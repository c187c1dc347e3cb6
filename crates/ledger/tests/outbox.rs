//! The webhook outbox on SQLite and on a real PostgreSQL: cursors that
//! start at the newest event, enqueueing that is harmless twice, leases that
//! two ledgers racing never both get, retries, the delivery log and
//! redelivery.

mod common;

use common::rid;
use haul_ledger::*;
use std::collections::BTreeSet;
use std::time::Duration;

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

fn attempt(status: Option<i64>, error: Option<&str>) -> NewAttempt {
    NewAttempt { at: now(), status, error: error.map(str::to_string), duration_ms: 3 }
}

const LEASE: Duration = Duration::from_secs(60);

async fn enqueue_all(l: &Ledger, hook: &str) -> u64 {
    let from = l.webhook_cursor(hook).await.unwrap();
    let events = l.events_after(from, 1000).await.unwrap();
    let upto = events.last().map_or(from, |e| e.seq);
    let list: Vec<(i64, &str)> = events.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    l.enqueue_deliveries(hook, &list, upto).await.unwrap()
}

async fn suite(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    l.register_release(&release("r0"), "ci").await.unwrap();

    // A webhook first seen starts at the newest event: no history replayed.
    assert_eq!(l.webhook_cursor("chat").await.unwrap(), 1);
    assert_eq!(enqueue_all(&l, "chat").await, 0);
    l.register_release(&release("r1"), "ci").await.unwrap();
    l.register_release(&release("r2"), "ci").await.unwrap();
    assert_eq!(enqueue_all(&l, "chat").await, 2);
    assert_eq!(l.webhook_cursor("chat").await.unwrap(), 3);
    // Enqueueing again, or with an older cursor, changes nothing.
    assert_eq!(l.enqueue_deliveries("chat", &[(2, "release.registered")], 2).await.unwrap(), 0);
    assert_eq!(l.webhook_cursor("chat").await.unwrap(), 3, "the cursor never goes back");
    assert_eq!(l.webhook_cursors().await.unwrap(), [("chat".to_string(), 3)]);
    let all = l.deliveries(Some("chat"), None, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|d| d.event).collect::<Vec<_>>(), [3, 2], "newest first");
    assert!(all.iter().all(|d| d.status == "pending" && d.attempts == 0 && d.kind == "release.registered"));

    // Claiming: a claimed delivery is nobody else's until its lease ends.
    let mine = l.claim_deliveries("chat", "a", LEASE, 10).await.unwrap();
    assert_eq!(mine.iter().map(|d| d.event).collect::<Vec<_>>(), [2, 3], "oldest first");
    assert_eq!(mine[0].lease_owner.as_deref(), Some("a"));
    assert!(l.claim_deliveries("chat", "b", LEASE, 10).await.unwrap().is_empty());
    assert!(l.claim_deliveries("other", "a", LEASE, 10).await.unwrap().is_empty());

    // A failed try is logged and retried later; a good one delivers.
    let (d2, d3) = (mine[0].id, mine[1].id);
    let held = l
        .finish_delivery(
            d2,
            "a",
            &attempt(None, Some("connection refused")),
            Outcome::Retry(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(held);
    let d = l.delivery(d2).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts, d.lease_owner.as_deref()), ("pending", 1, None));
    assert_eq!(d.last_error.as_deref(), Some("connection refused"));
    assert!(l.claim_deliveries("chat", "b", LEASE, 10).await.unwrap().is_empty(), "not due yet");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = l.claim_deliveries("chat", "b", LEASE, 10).await.unwrap();
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [d2]);
    assert!(l.finish_delivery(d2, "b", &attempt(Some(200), None), Outcome::Delivered).await.unwrap());
    assert!(l.finish_delivery(d3, "a", &attempt(Some(500), Some("HTTP 500")), Outcome::Failed).await.unwrap());
    let log = l.delivery_attempts(d2).await.unwrap();
    assert_eq!(log.iter().map(|a| a.status).collect::<Vec<_>>(), [None, Some(200)]);
    assert_eq!(log[0].error.as_deref(), Some("connection refused"));
    assert_eq!(l.delivery(d2).await.unwrap().unwrap().status, "delivered");
    assert_eq!(l.delivery(d3).await.unwrap().unwrap().last_status, Some(500));

    // Listing by status, paged.
    let failed = l.deliveries(None, Some("failed"), None, 10).await.unwrap();
    assert_eq!(failed.iter().map(|d| d.id).collect::<Vec<_>>(), [d3]);
    let page = l.deliveries(Some("chat"), None, Some(d3), 10).await.unwrap();
    assert_eq!(page.iter().map(|d| d.id).collect::<Vec<_>>(), [d2]);
    assert_eq!(
        l.delivery_counts().await.unwrap(),
        [("chat".to_string(), "delivered".to_string(), 1), ("chat".into(), "failed".into(), 1)]
    );

    // Redelivery: pending and due now, whatever it was; a stale finish by
    // a former lease holder is logged but moves nothing.
    let r = l.redeliver(d3).await.unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 0));
    assert!(l.redeliver(999_999).await.unwrap().is_none());
    let c = l.claim_deliveries("chat", "a", LEASE, 10).await.unwrap();
    assert_eq!(c.len(), 1);
    l.redeliver(d3).await.unwrap();
    assert!(!l.finish_delivery(d3, "a", &attempt(Some(200), None), Outcome::Delivered).await.unwrap());
    assert_eq!(l.delivery(d3).await.unwrap().unwrap().status, "pending");
    assert_eq!(l.delivery_attempts(d3).await.unwrap().len(), 2);

    // A stopping server gives its leases up at once.
    assert_eq!(l.claim_deliveries("chat", "a", LEASE, 10).await.unwrap().len(), 1);
    assert_eq!(l.release_leases("a").await.unwrap(), 1);
    assert_eq!(l.claim_deliveries("chat", "b", LEASE, 10).await.unwrap().len(), 1);

    // An expired lease may be taken over.
    l.register_release(&release("r3"), "ci").await.unwrap();
    enqueue_all(&l, "chat").await;
    let short = l.claim_deliveries("chat", "a", Duration::from_millis(200), 10).await.unwrap();
    assert_eq!(short.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(l.claim_deliveries("chat", "b", LEASE, 10).await.unwrap()[0].id, short[0].id);

    assert_eq!(l.event(2).await.unwrap().unwrap().subject, format!("web/{}", rid("r1")));
    assert!(l.event(999).await.unwrap().is_none());
}

/// Two ledgers (two servers) enqueue and claim the same events at once:
/// every delivery is claimed exactly once.
async fn race(url: &str) {
    let a = Ledger::open(url).await.unwrap();
    let b = Ledger::open(url).await.unwrap();
    a.webhook_cursor("hook").await.unwrap();
    for i in 0..40 {
        a.register_release(&release(&format!("x{i}")), "ci").await.unwrap();
    }
    let worker = |l: Ledger, owner: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..30 {
                enqueue_all(&l, "hook").await;
                for d in l.claim_deliveries("hook", owner, LEASE, 3).await.unwrap() {
                    got.push(d.id);
                    l.finish_delivery(d.id, owner, &attempt(Some(204), None), Outcome::Delivered).await.unwrap();
                }
                tokio::task::yield_now().await;
            }
            got
        })
    };
    let (ga, gb) = (worker(a.clone(), "a"), worker(b.clone(), "b"));
    let (ga, gb) = (ga.await.unwrap(), gb.await.unwrap());
    let sa: BTreeSet<i64> = ga.iter().copied().collect();
    let sb: BTreeSet<i64> = gb.iter().copied().collect();
    assert_eq!(sa.len(), ga.len());
    assert!(sa.is_disjoint(&sb), "claimed by both: {:?}", sa.intersection(&sb).collect::<Vec<_>>());
    assert_eq!(sa.len() + sb.len(), 40, "a: {}, b: {}", sa.len(), sb.len());
    let all = a.deliveries(Some("hook"), None, None, 100).await.unwrap();
    assert_eq!(all.len(), 40);
    assert!(all.iter().all(|d| d.status == "delivered" && d.attempts == 1));
    for d in &all {
        assert_eq!(a.delivery_attempts(d.id).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outbox() {
    let dir = tempfile::tempdir().unwrap();
    suite(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
    race(&format!("sqlite://{}", dir.path().join("race.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    suite(&pg.create_database("outbox").unwrap()).await;
    race(&pg.create_database("race").unwrap()).await;
}

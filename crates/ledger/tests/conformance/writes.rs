//! Concurrent writes, a failing write, and tampering with the audit chain.

use super::*;

/// Two pools writing at once: every write lands, the chain holds.
pub async fn two_pools_at_once(url: &str) {
    let l = with_releases(url).await;
    let l2 = Ledger::open(url).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let l = if i % 2 == 0 { l.clone() } else { l2.clone() };
        tasks.push(tokio::spawn(async move { l.approve("web", &rid("r1"), "qa", &format!("user{i}"), None).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(l.approvals("web", &rid("r1"), "qa").await.unwrap().len(), 16);
    assert_eq!(l.verify_audit().await.unwrap(), AuditReport { entries: 18, broken: None });
}

/// Writes committed together (group commit): a refused one among them is
/// undone alone, the others land, and each caller hears its own answer.
pub async fn group_commit(url: &str) {
    let l = with_releases(url).await;
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
    assert_eq!(l.approvals("web", &rid("r2"), "qa").await.unwrap().len(), 12);
    assert_eq!(l.verify_audit().await.unwrap(), AuditReport { entries: 14, broken: None });
}

/// A write that fails after writing (host results, then a transition the
/// table refuses) leaves nothing behind, even amid a batch.
pub async fn failing_write_leaves_nothing(url: &str) {
    let l = with_releases(url).await;
    let d1 = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    l.finish_deployment(d1, DeploymentStatus::Succeeded, None, &[host("a"), host("b")], "alice").await.unwrap();
    let before = l.verify_audit().await.unwrap().entries;
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
    assert_eq!(l.host_results(d1).await.unwrap(), vec![host("a"), host("b")]);
    assert_eq!(l.approvals("web", &rid("r1"), "load").await.unwrap().len(), 16);
    assert_eq!(l.verify_audit().await.unwrap(), AuditReport { entries: before + 16, broken: None });
}

/// Tampering is found: a changed entry (a removed one and a gap are
/// `tamper_removals`).
pub async fn tamper_changed(url: &str) {
    let l = with_releases(url).await;
    succeeded(&l, "staging", "r1", Trigger::Deploy, None).await;
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
    l.execute_raw("UPDATE audit SET data = '{}' WHERE seq = 3").await.unwrap();
    let r = l.verify_audit().await.unwrap();
    assert_eq!(r.broken, Some((3, "entry 3 was changed".into())));
}

pub async fn tamper_removals(url: &str) {
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

//! Content syncs: recorded with their audit entry, read back newest first,
//! and refused whole when a field breaks the text rule.

use super::*;

fn sync(to: &str, outcome: ContentOutcome) -> NewContentSync {
    NewContentSync {
        app: "web".into(),
        from_env: "prod".into(),
        to_env: to.into(),
        sets: vec!["db".into(), "uploads".into()],
        actor: "alice".into(),
        reason: Some("refresh before the demo".into()),
        forced: false,
        outcome,
        bytes: 1234,
        digests: [("db".to_string(), "ab12".to_string())].into(),
        error: (outcome == ContentOutcome::Failed).then(|| "content set `db`: import on h2 failed".into()),
    }
}

pub async fn content_syncs(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    let a = l.record_content_sync(&sync("stage", ContentOutcome::Succeeded)).await.unwrap();
    let b = l.record_content_sync(&sync("stage", ContentOutcome::Failed)).await.unwrap();
    let c = l.record_content_sync(&sync("qa", ContentOutcome::Succeeded)).await.unwrap();
    let stage = l.content_syncs(Some("web"), Some("stage"), 10).await.unwrap();
    assert_eq!(stage.iter().map(|s| s.id).collect::<Vec<_>>(), vec![b, a]);
    assert_eq!(stage[0].outcome, ContentOutcome::Failed);
    assert_eq!(stage[0].error.as_deref(), Some("content set `db`: import on h2 failed"));
    assert_eq!((stage[1].sets.as_str(), stage[1].bytes, stage[1].actor.as_str()), ("db,uploads", 1234, "alice"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stage[1].digests).unwrap()["db"], "ab12");
    assert_eq!(l.content_syncs(None, None, 10).await.unwrap().first().map(|s| s.id), Some(c));
    let events = l.events_after(0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["content.synced", "content.failed", "content.synced"]);
    assert_eq!((events[1].data["env"].as_str(), events[1].data["from"].as_str()), (Some("stage"), Some("prod")));
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
    // A control character in the reason refuses the whole record.
    let mut bad = sync("stage", ContentOutcome::Succeeded);
    bad.reason = Some("a\u{1b}[2Jb".into());
    assert!(matches!(l.record_content_sync(&bad).await, Err(LedgerError::Invalid { .. })));
    let mut bad = sync("stage", ContentOutcome::Succeeded);
    bad.sets = vec!["a,b".into()];
    assert!(matches!(l.record_content_sync(&bad).await, Err(LedgerError::Invalid { .. })));
    assert_eq!(l.content_syncs(None, None, 10).await.unwrap().len(), 3);
}

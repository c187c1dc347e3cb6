//! Secret digests: one random key per ledger, made once whoever asks first,
//! and per host and file the latest digest, never shown in the audit log.

use crate::*;

pub async fn secret_digests(url: &str) {
    let a = Ledger::open(url).await.unwrap();
    let b = Ledger::open(url).await.unwrap();
    // Two openers asking at once get one key, and it stays.
    let (ka, kb) = tokio::join!(a.secret_key(), b.secret_key());
    let key = ka.unwrap();
    assert_eq!(key, kb.unwrap());
    assert_ne!(key, [0u8; 32]);
    assert_eq!(Ledger::open(url).await.unwrap().secret_key().await.unwrap(), key);

    let d1 = "1".repeat(64);
    let d2 = "2".repeat(64);
    a.record_secrets("web", "prod", "h1", &[(".env".into(), d1.clone()), ("config/db".into(), d1.clone())], "alice")
        .await
        .unwrap();
    a.record_secrets("web", "prod", "h2", &[(".env".into(), d1.clone())], "alice").await.unwrap();
    a.record_secrets("web", "prod", "h1", &[(".env".into(), d2.clone())], "bob").await.unwrap();
    a.record_secrets("web", "staging", "h1", &[(".env".into(), d1.clone())], "bob").await.unwrap();
    let got: Vec<(String, String, String)> =
        b.secret_digests("web", "prod").await.unwrap().into_iter().map(|d| (d.host, d.path, d.digest)).collect();
    assert_eq!(
        got,
        [
            ("h1".to_string(), ".env".to_string(), d2.clone()),
            ("h1".into(), "config/db".into(), d1.clone()),
            ("h2".into(), ".env".into(), d1.clone()),
        ]
    );

    let bad = a.record_secrets("web", "prod", "h1", &[(".env".into(), "hunter2".into())], "eve").await;
    assert!(matches!(bad, Err(LedgerError::Invalid { .. })), "{bad:?}");
    let bad = a.record_secrets("web", "prod", "h\n1", &[(".env".into(), d1.clone())], "eve").await;
    assert!(bad.is_err(), "text rule");

    let events = a.events_after(0, 100).await.unwrap();
    let written: Vec<_> = events.iter().filter(|e| e.kind == "secrets.written").collect();
    assert_eq!(written.len(), 4);
    for e in &events {
        let text = serde_json::to_string(&e.data).unwrap();
        assert!(!text.contains(&d1) && !text.contains(&d2), "{text}");
    }
    assert_eq!(events.iter().filter(|e| e.kind == "secrets.key_made").count(), 1);
    assert!(a.verify_audit().await.unwrap().broken.is_none(), "the chain holds");
}

//! Upgrading an old ledger, and stored values the model cannot hold.

use super::*;

/// A ledger made at schema version 1 (before the webhook outbox and the
/// record of forced deployments) is brought up to date when opened, its
/// records kept.
pub async fn upgrade(url: &str) {
    let l = Ledger::open(url).await.unwrap();
    l.register_release(&release("old", "r1", "d1"), "ci").await.unwrap();
    let d = l.start_deployment(&deployment("staging", "r1", Trigger::Deploy, None), HOUR).await.unwrap();
    for t in [
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_cursors",
        "agents",
        "secret_key",
        "secret_digests",
        "content_syncs",
    ] {
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
    assert_eq!(l.schema_version().await.unwrap(), 7);
    assert_eq!(l.webhook_cursors().await.unwrap(), vec![]);
    assert_eq!(l.deployment(d).await.unwrap().forced, None, "an old deployment was not forced");
    assert_eq!(l.releases("old", None, 10).await.unwrap().len(), 1);
    assert_eq!(l.verify_audit().await.unwrap().broken, None);
}

/// A stored value the model cannot hold is an error naming the table, the
/// column and the value, on every read of it: an unknown status once read
/// as `running`, an unknown trigger as `deploy`, a bad release id or time as
/// whatever text was there.
pub async fn unknown_values_are_read_errors(url: &str) {
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

//! The audit chain: every write appends an entry carrying the hash of the one
//! before, in the transaction of the write, so that a changed or removed
//! entry is found by walking the chain. The entries are also the event
//! stream the server's SSE endpoint and webhooks deliver.

use crate::batch::Batch;
use crate::rows::{Stamp, bad_row};
use crate::{AuditReport, Event, Ledger, Result, now};
use sqlx::Row;

impl Ledger {
    /// Appends an audit entry to the batch, chained to the one before; the
    /// batch inserts its entries together before it commits.
    pub(crate) async fn audit(
        b: &mut Batch,
        actor: &str,
        kind: &str,
        subject: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        let seq = b.seq + 1;
        let at = crate::time::text(now());
        let data = data.to_string();
        let hash = audit_hash(seq, &at, actor, kind, subject, &data, &b.hash);
        let prev = std::mem::replace(&mut b.hash, hash.clone());
        b.seq = seq;
        b.audit.push((seq, at, actor.into(), kind.into(), subject.into(), data, prev, hash));
        Ok(())
    }

    /// Audit entries after `seq`, oldest first: the event stream that the
    /// server's SSE endpoint and webhooks deliver.
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<Event>> {
        let rows =
            sqlx::query("SELECT seq, at, actor, kind, subject, data FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(Event {
                    seq: r.try_get("seq")?,
                    at: r.try_get::<Stamp, _>("at").map_err(|e| bad_row("audit", e))?.into(),
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// The newest event's sequence number (0 when there is none).
    pub async fn last_event(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?)
    }

    /// Walks the audit log checking every link of the chain.
    pub async fn verify_audit(&self) -> Result<AuditReport> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY seq").fetch_all(&self.pool).await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        let (head_seq, head_hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
        let mut prev = String::new();
        let mut expected_seq = 1;
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let get = |k: &str| r.try_get::<String, _>(k);
            if seq != expected_seq {
                return Ok(AuditReport::broken(rows.len(), expected_seq, format!("entry {expected_seq} is missing")));
            }
            if get("prev")? != prev {
                return Ok(AuditReport::broken(
                    rows.len(),
                    seq,
                    format!("entry {seq} does not follow entry {}", seq - 1),
                ));
            }
            let hash =
                audit_hash(seq, &get("at")?, &get("actor")?, &get("kind")?, &get("subject")?, &get("data")?, &prev);
            if hash != get("hash")? {
                return Ok(AuditReport::broken(rows.len(), seq, format!("entry {seq} was changed")));
            }
            prev = hash;
            expected_seq += 1;
        }
        if head_seq != expected_seq - 1 || head_hash != prev {
            return Ok(AuditReport::broken(
                rows.len(),
                expected_seq,
                format!("entries after {} were removed", expected_seq - 1),
            ));
        }
        Ok(AuditReport { entries: rows.len(), broken: None })
    }

    /// Runs raw SQL; for tests that tamper with the audit log.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool).await?;
        Ok(())
    }
}

pub(crate) fn audit_hash(seq: i64, at: &str, actor: &str, kind: &str, subject: &str, data: &str, prev: &str) -> String {
    let mut h = blake3::Hasher::new();
    for part in [&seq.to_string(), at, actor, kind, subject, data, prev] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

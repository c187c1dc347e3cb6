//! Content syncs: the record of every `haul content sync` (who, why, from,
//! to, which sets, the bytes and digests, how it ended), written with its
//! audit entry (`content.synced` or `content.failed`), which the event feed
//! and the webhooks deliver like every other.

use crate::rows::{Stamp, Text, all};
use crate::time::text as stamp;
use crate::{Ledger, LedgerError, Result, now, text};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentOutcome {
    Succeeded,
    Failed,
}

impl ContentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentOutcome::Succeeded => "succeeded",
            ContentOutcome::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ContentOutcome {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "succeeded" => Ok(ContentOutcome::Succeeded),
            "failed" => Ok(ContentOutcome::Failed),
            other => Err(format!("`{other}` is not a content sync outcome (succeeded, failed)")),
        }
    }
}

/// A sync to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewContentSync {
    pub app: String,
    pub from_env: String,
    pub to_env: String,
    pub sets: Vec<String>,
    pub actor: String,
    /// Why (required to force a protected target).
    pub reason: Option<String>,
    /// Whether the target was protected and forced.
    pub forced: bool,
    pub outcome: ContentOutcome,
    pub bytes: i64,
    /// Each synced set's blake3 of what its import read.
    pub digests: BTreeMap<String, String>,
    /// What failed, naming the step and host.
    pub error: Option<String>,
}

/// A recorded sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ContentSync {
    pub id: i64,
    pub app: String,
    pub from_env: String,
    pub to_env: String,
    /// Set names, comma-joined.
    pub sets: String,
    pub actor: String,
    pub reason: Option<String>,
    #[sqlx(try_from = "Text<ContentOutcome>")]
    pub outcome: ContentOutcome,
    pub bytes: i64,
    /// JSON: set → blake3.
    pub digests: String,
    pub error: Option<String>,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub at: Timestamp,
}

impl Ledger {
    /// Records a sync and its audit entry; returns its id.
    pub async fn record_content_sync(&self, s: &NewContentSync) -> Result<i64> {
        check(s)?;
        let s = s.clone();
        self.batched(move |b| {
            let s = s.clone();
            Box::pin(async move {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM content_syncs").fetch_one(&mut *b.tx).await?;
                let id = max.unwrap_or(0) + 1;
                let digests = serde_json::to_string(&s.digests).expect("a map of strings");
                sqlx::query(
                    "INSERT INTO content_syncs (id, app, from_env, to_env, sets, actor, reason, outcome, bytes, digests, error, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(id)
                .bind(&s.app)
                .bind(&s.from_env)
                .bind(&s.to_env)
                .bind(s.sets.join(","))
                .bind(&s.actor)
                .bind(&s.reason)
                .bind(s.outcome.as_str())
                .bind(s.bytes)
                .bind(digests)
                .bind(&s.error)
                .bind(stamp(now()))
                .execute(&mut *b.tx)
                .await?;
                let kind = match s.outcome {
                    ContentOutcome::Succeeded => "content.synced",
                    ContentOutcome::Failed => "content.failed",
                };
                let data = json!({
                    "id": id, "app": s.app, "env": s.to_env, "from": s.from_env, "sets": s.sets,
                    "reason": s.reason, "forced": s.forced, "outcome": s.outcome, "bytes": s.bytes,
                    "digests": s.digests, "error": s.error,
                });
                Self::audit(b, &s.actor, kind, &id.to_string(), data).await?;
                Ok(id)
            })
        })
        .await
    }

    /// Syncs, newest first, optionally of one app and into one environment.
    pub async fn content_syncs(&self, app: Option<&str>, to_env: Option<&str>, limit: i64) -> Result<Vec<ContentSync>> {
        let rows = sqlx::query(
            "SELECT * FROM content_syncs WHERE ($1 IS NULL OR app = $2) AND ($3 IS NULL OR to_env = $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(app)
        .bind(app)
        .bind(to_env)
        .bind(to_env)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        all("content_syncs", &rows)
    }
}

fn check(s: &NewContentSync) -> Result<()> {
    let mut lines =
        vec![("app", s.app.as_str()), ("from_env", &s.from_env), ("to_env", &s.to_env), ("actor", &s.actor)];
    lines.extend(s.sets.iter().map(|n| ("sets", n.as_str())));
    lines.extend(s.digests.iter().flat_map(|(k, v)| [("digests", k.as_str()), ("digests", v.as_str())]));
    text::fields(&lines, &[("reason", s.reason.as_deref()), ("error", s.error.as_deref())])?;
    if s.sets.is_empty() || s.sets.iter().any(|n| n.contains(',') || n.is_empty()) {
        return Err(LedgerError::Invalid {
            field: "sets".into(),
            message: "one or more set names, without commas".into(),
        });
    }
    if s.bytes < 0 {
        return Err(LedgerError::Invalid { field: "bytes".into(), message: "cannot be negative".into() });
    }
    Ok(())
}

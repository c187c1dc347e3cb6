//! The webhook outbox: which events each webhook still has to receive,
//! every try at delivering them, and who is delivering what right now.
//!
//! It lives in the ledger's database so that deliveries survive a restart
//! and so that several `haul server` replicas over one database share the
//! work without both sending one event: a server works on a delivery only
//! while it holds its lease, and it takes the lease with one conditional
//! `UPDATE` that must change exactly one row. On PostgreSQL a concurrent
//! `UPDATE` waits for the row lock and then re-checks its `WHERE` clause
//! against the row as committed (READ COMMITTED), so only one of two racing
//! claims changes the row; SQLite serializes writers outright.
//!
//! Each webhook has a cursor, the last event looked at. A webhook first seen
//! starts at the newest event: adding a webhook does not replay history.
//! The cursor is moved in the same transaction that enqueues the events
//! before it, and enqueueing an event twice is a no-op (`UNIQUE (webhook,
//! event)`), so no event is skipped or sent twice however servers race.
//!
//! Outbox writes are operational state, not records: they do not go into
//! the audit log (they would otherwise be events to deliver themselves).

use crate::rows::{MaybeStamp, Stamp, all, one};
use crate::time::{now_plus, text};
use crate::{Ledger, Result};
use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

/// One event to be delivered to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    /// The event's sequence number.
    pub event: i64,
    pub kind: String,
    /// `pending`, `delivered` or `failed` (out of attempts).
    pub status: String,
    /// Tries so far (since the last redelivery).
    pub attempts: i64,
    /// When it is due next, while pending.
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub next_at: Timestamp,
    pub lease_owner: Option<String>,
    #[serde(with = "crate::time::fixed_opt")]
    #[sqlx(try_from = "MaybeStamp")]
    pub lease_until: Option<Timestamp>,
    /// The HTTP status of the last try, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last try failed, if it did.
    pub last_error: Option<String>,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub created: Timestamp,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub updated: Timestamp,
}

/// One try at a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeliveryAttempt {
    pub id: i64,
    pub delivery: i64,
    #[serde(with = "crate::time::fixed")]
    #[sqlx(try_from = "Stamp")]
    pub at: Timestamp,
    /// The HTTP status, when the receiver answered.
    pub status: Option<i64>,
    /// What went wrong: a connection error, a timeout, or the status.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What a try found, to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    pub at: Timestamp,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Where a delivery goes after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// Out of attempts.
    Failed,
}

const PENDING: &str = "pending";

impl Ledger {
    /// The last event `webhook` has looked at; a webhook seen for the first
    /// time starts at the newest event.
    pub async fn webhook_cursor(&self, webhook: &str) -> Result<i64> {
        sqlx::query(
            "INSERT INTO webhook_cursors (webhook, seq) SELECT $1, seq FROM audit_head WHERE id = 1 \
             ON CONFLICT (webhook) DO NOTHING",
        )
        .bind(webhook)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar("SELECT seq FROM webhook_cursors WHERE webhook = $1")
            .bind(webhook)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Every webhook's cursor, by name: the webhooks some server has
    /// started to follow.
    pub async fn webhook_cursors(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT webhook, seq FROM webhook_cursors ORDER BY webhook").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("webhook")?, r.try_get("seq")?))).collect()
    }

    /// Enqueues `events` (sequence number and kind) for `webhook` and moves
    /// its cursor to `upto`, together. Events already enqueued stay as they
    /// are; a cursor already past `upto` stays. Returns how many were new.
    pub async fn enqueue_deliveries(&self, webhook: &str, events: &[(i64, &str)], upto: i64) -> Result<u64> {
        let mut tx = self.write().await?;
        let at = text(crate::now());
        let mut added = 0;
        for (seq, kind) in events {
            added += sqlx::query(
                "INSERT INTO webhook_deliveries (webhook, event, kind, status, attempts, next_at, created, updated) \
                 VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT (webhook, event) DO NOTHING",
            )
            .bind(webhook)
            .bind(seq)
            .bind(*kind)
            .bind(PENDING)
            .bind(&at)
            .bind(&at)
            .bind(&at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query("UPDATE webhook_cursors SET seq = $1 WHERE webhook = $2 AND seq < $3")
            .bind(upto)
            .bind(webhook)
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Takes the lease of up to `limit` due deliveries of `webhook` for
    /// `owner`, for `lease` (longer than a try may take). A delivery is
    /// claimed by one owner at a time, across every process on the
    /// database.
    pub async fn claim_deliveries(
        &self,
        webhook: &str,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let now = text(crate::now());
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE webhook = $1 AND status = $2 AND next_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $4) ORDER BY id LIMIT $5",
        )
        .bind(webhook)
        .bind(PENDING)
        .bind(&now)
        .bind(&now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let until = text(now_plus(lease));
        let mut claimed = Vec::new();
        for id in ids {
            let took = sqlx::query(
                "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND status = $4 \
                 AND next_at <= $5 AND (lease_until IS NULL OR lease_until < $6)",
            )
            .bind(owner)
            .bind(&until)
            .bind(id)
            .bind(PENDING)
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if took == 1
                && let Some(d) = self.delivery(id).await?
                && d.lease_owner.as_deref() == Some(owner)
            {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Logs a try at delivery `id` and, if `owner` still holds its lease,
    /// moves it on as `outcome` says and gives the lease up. Returns whether
    /// the lease was still held (a redelivery in the meantime takes it
    /// away; the try is logged all the same).
    pub async fn finish_delivery(&self, id: i64, owner: &str, attempt: &NewAttempt, outcome: Outcome) -> Result<bool> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(text(attempt.at))
        .bind(attempt.status)
        .bind(&attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        let (status, next_at) = match outcome {
            Outcome::Delivered => ("delivered", text(crate::now())),
            Outcome::Retry(after) => (PENDING, text(now_plus(after))),
            Outcome::Failed => ("failed", text(crate::now())),
        };
        let held = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_at = $2, last_status = $3, \
             last_error = $4, lease_owner = NULL, lease_until = NULL, updated = $5 WHERE id = $6 AND lease_owner = $7",
        )
        .bind(status)
        .bind(&next_at)
        .bind(attempt.status)
        .bind(&attempt.error)
        .bind(text(crate::now()))
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(held)
    }

    /// Gives up every lease `owner` holds (a server stopping), so another
    /// server may take those deliveries at once.
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        Ok(sqlx::query("UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Sends delivery `id` again: pending, due now, with a fresh round of
    /// attempts, whatever its status. `None` if there is no such delivery.
    pub async fn redeliver(&self, id: i64) -> Result<Option<Delivery>> {
        let now = text(crate::now());
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = 0, next_at = $2, lease_owner = NULL, \
             lease_until = NULL, updated = $3 WHERE id = $4",
        )
        .bind(PENDING)
        .bind(&now)
        .bind(&now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.delivery(id).await
    }

    /// A page of deliveries older than `before` (an id), newest first,
    /// optionally of one webhook and in one status.
    pub async fn deliveries(
        &self,
        webhook: Option<&str>,
        status: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE ($1 IS NULL OR webhook = $2) AND ($3 IS NULL OR status = $4) \
             AND ($5 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7",
        )
        .bind(webhook)
        .bind(webhook)
        .bind(status)
        .bind(status)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        all("webhook_deliveries", &rows)
    }

    pub async fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        let row =
            sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| one("webhook_deliveries", &r)).transpose()
    }

    /// Every try at delivery `id`, oldest first.
    pub async fn delivery_attempts(&self, id: i64) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query("SELECT * FROM webhook_attempts WHERE delivery = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        all("webhook_attempts", &rows)
    }

    /// How many deliveries each webhook has in each status.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT webhook, status, COUNT(*) AS n FROM webhook_deliveries GROUP BY webhook, status \
             ORDER BY webhook, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("webhook")?, r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// One event by its sequence number.
    pub async fn event(&self, seq: i64) -> Result<Option<crate::Event>> {
        Ok(self.events_after(seq - 1, 1).await?.into_iter().find(|e| e.seq == seq))
    }
}

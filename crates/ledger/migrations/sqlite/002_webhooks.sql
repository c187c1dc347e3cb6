-- Version 2: the webhook outbox. IF NOT EXISTS: some ledgers made before
-- versioned migrations already have these tables.
-- Webhooks: per webhook, the last event looked at (a webhook first seen
-- starts at the newest event, so adding one does not replay history).
CREATE TABLE IF NOT EXISTS webhook_cursors (
    webhook TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
-- The outbox: one delivery per webhook and event, retried until delivered
-- or out of attempts. A server works on one only while it holds its lease.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook TEXT NOT NULL,
    event INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    last_status INTEGER,
    last_error TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (webhook, event)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (webhook, status, next_at);
-- The delivery log: one row per try.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery, id);

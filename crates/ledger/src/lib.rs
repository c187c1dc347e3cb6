//! The ledger: one source of truth of which release ran where, when, by
//! whom, and whether it was verified.
//!
//! One implementation over sqlx's `Any` driver, so SQLite (the default, a
//! file beside the config) and PostgreSQL (for several servers over one
//! database) behave the same by construction; each backend has its own
//! schema file because their DDL differs. Queries number their parameters
//! in the order they appear, which both backends accept.
//!
//! Every write goes into an append-only audit log in the same transaction;
//! each audit entry carries the hash of the one before, so `verify_audit`
//! finds an entry that was changed or removed. Configuration (environments,
//! requirements, tokens) is never stored here: it lives in `haul.toml`.
//!
//! The rooms: `schema` opens a database and migrates it, `audit` keeps the
//! hash chain (and serves it as events), `batch` commits writes together,
//! `write` starts and ends deployments, `review` records verifications,
//! approvals and quarantines, `read` and `views` answer questions, `gate`,
//! `promotion` and `lease` hold the rules, `outbox` the webhook deliveries.
//! `agents` keeps each pull agent's latest report, `secrets` the keyed
//! digests of the secret files each host was given.
//! `rows` maps rows to the model, strictly; `time` keeps the stored text of
//! times; `text` the rule for stored text.

mod agents;
mod api;
mod audit;
mod batch;
mod content;
pub mod dora;
mod error;
mod gate;
mod lease;
mod metrics;
mod model;
mod outbox;
mod promotion;
mod read;
mod review;
mod rows;
mod schema;
mod secrets;
pub mod text;
pub mod time;
mod views;
mod write;

pub use agents::{AgentRecord, AgentSeen, AgentWrite};
pub use api::BadTime;
pub use content::{ContentOutcome, ContentSync, NewContentSync};
pub use error::LedgerError;
pub use gate::{Pipeline, Verdict};
pub use lease::{Judge, Lease};
pub use metrics::EnvMetrics;
pub use model::*;
pub use outbox::{Delivery, DeliveryAttempt, NewAttempt, Outcome};
pub use promotion::{Candidate, Requirements, choose};
pub use secrets::SecretDigest;
pub use time::{now, now_plus};
pub use views::*;

pub(crate) use error::unreachable_database;

use sqlx::AnyPool;

type Result<T> = std::result::Result<T, LedgerError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the ledger database.
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: AnyPool,
    /// Where write transactions run: on SQLite a pool of one connection,
    /// so that this process's writers queue in order instead of spinning
    /// on SQLite's busy handler; on PostgreSQL the same pool as reads.
    writer: AnyPool,
    /// The group-commit writer every audited write goes through.
    batcher: tokio::sync::mpsc::UnboundedSender<batch::Request>,
    backend: Backend,
}

impl Ledger {
    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a read lock upgraded later fails at once with
    /// "database is locked" when another writer got there first.
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Runs a write in the next group commit.
    pub(crate) async fn batched<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnMut(&'a mut batch::Batch) -> batch::BoxFut<'a, Result<T>> + Send + 'static,
    {
        batch::submit(&self.batcher, f).await
    }
}

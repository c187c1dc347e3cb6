//! Opening a ledger: the connection pools of each backend and the numbered
//! schema migrations that bring any older database up to date.

use crate::{Backend, Ledger, LedgerError, Result, batch};
use sqlx::any::AnyPoolOptions;

/// How long a request waits for a PostgreSQL connection before it is told
/// the database is unavailable.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The schema, as numbered migrations (SQLite and PostgreSQL text of each):
/// a database records the newest it has, and opening it applies the rest.
/// A migration, once released, never changes; new ones are appended.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, include_str!("../migrations/sqlite/001_ledger.sql"), include_str!("../migrations/postgres/001_ledger.sql")),
    (2, include_str!("../migrations/sqlite/002_webhooks.sql"), include_str!("../migrations/postgres/002_webhooks.sql")),
    (3, include_str!("../migrations/sqlite/003_forced.sql"), include_str!("../migrations/postgres/003_forced.sql")),
    (
        4,
        include_str!("../migrations/sqlite/004_runner_lease.sql"),
        include_str!("../migrations/postgres/004_runner_lease.sql"),
    ),
    (5, include_str!("../migrations/sqlite/005_agents.sql"), include_str!("../migrations/postgres/005_agents.sql")),
    (6, include_str!("../migrations/sqlite/006_secrets.sql"), include_str!("../migrations/postgres/006_secrets.sql")),
    (
        7,
        include_str!("../migrations/sqlite/007_content_syncs.sql"),
        include_str!("../migrations/postgres/007_content_syncs.sql"),
    ),
];

impl Ledger {
    /// Opens (creating and migrating when needed) the ledger at `url`:
    /// `sqlite://<path>` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Ledger> {
        sqlx::any::install_default_drivers();
        let fail = |message: String| LedgerError::Open { url: redact(url), message };
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(fail("the URL must start with sqlite:// or postgres://".into()));
        };
        if let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
            && let Some(parent) = std::path::Path::new(path).parent()
        {
            std::fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        }
        let url_full = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = |max: u32| {
            AnyPoolOptions::new().max_connections(max).after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let pool = options(4).connect(&url_full).await.map_err(|e| fail(e.to_string()))?;
                (pool, options(1).connect(&url_full).await.map_err(|e| fail(e.to_string()))?)
            }
            Backend::Postgres => {
                let pool = options(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(&url_full)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                (pool.clone(), pool)
            }
        };
        let (batcher, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(batch::run(writer.clone(), backend, requests));
        let ledger = Ledger { pool, writer, batcher, backend };
        ledger.migrate().await.map_err(|e| fail(e.to_string()))?;
        Ok(ledger)
    }

    /// Brings the schema up to the newest version, applying each missing
    /// migration in order, all in one transaction. Concurrent openers are
    /// serialized (SQLite's write lock; an advisory lock on PostgreSQL), so
    /// each migration runs once.
    pub(crate) async fn migrate(&self) -> Result<()> {
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        let have: std::result::Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT MAX(version) FROM haul_schema").fetch_one(&self.pool).await;
        if matches!(have, Ok(Some(v)) if v >= newest) {
            return Ok(());
        }
        let mut tx = self.write().await?;
        if self.backend == Backend::Postgres {
            // Any fixed key will do: only haul's migrations take it.
            sqlx::query("SELECT pg_advisory_xact_lock(2038400001)").execute(&mut *tx).await?;
        }
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS haul_schema (version BIGINT NOT NULL)").execute(&mut *tx).await?;
        let have: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM haul_schema").fetch_one(&mut *tx).await?;
        let have = have.unwrap_or(0);
        for (version, sqlite, postgres) in MIGRATIONS.iter().filter(|m| m.0 > have) {
            let sql: &'static str = if self.backend == Backend::Sqlite { sqlite } else { postgres };
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| LedgerError::Write(format!("schema migration {version}: {e}")))?;
        }
        if have < newest {
            sqlx::query("DELETE FROM haul_schema").execute(&mut *tx).await?;
            sqlx::query("INSERT INTO haul_schema (version) VALUES ($1)").bind(newest).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM haul_schema").fetch_one(&self.pool).await?;
        Ok(v.unwrap_or(0))
    }
}

/// A URL with its password (if any) hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

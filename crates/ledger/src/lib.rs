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

mod batch;
mod gate;
mod lease;
mod model;
mod outbox;
mod promotion;
pub mod text;
mod views;

pub use gate::{Pipeline, Verdict};
pub use lease::{Judge, Lease};
pub use model::*;
pub use outbox::{Delivery, DeliveryAttempt, NewAttempt, Outcome, now_plus};
pub use promotion::{Candidate, Requirements, choose};
pub use views::*;

use batch::Batch;
use serde_json::json;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {url}: {message}")]
    Open { url: String, message: String },
    #[error("ledger: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Refused(String),
    /// Another deployment holds the environment.
    #[error("{0}")]
    Busy(String),
    /// A write's batch could not be committed (or the writer is gone).
    #[error("ledger: {0}")]
    Write(String),
    #[error("no deployment {0} in the ledger")]
    NoDeployment(i64),
    /// A text field breaks the rule of `text` (a NUL byte, a control
    /// character, too long); checked before anything is written.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The database cannot be reached (down, restarting, or every
    /// connection lost): the write was not acknowledged; trying again later
    /// may work.
    #[error("ledger: the database is unavailable: {0}")]
    Unavailable(String),
}

impl LedgerError {
    /// Whether the database could not be reached, rather than refusing or
    /// failing a query: a server answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            LedgerError::Unavailable(_) => true,
            LedgerError::Db(e) => unreachable_database(e),
            _ => false,
        }
    }
}

/// A connection-level failure: no connection to be had, or the one in use
/// lost, or the server shutting down (SQLSTATE class 08, 57P01–57P03).
pub(crate) fn unreachable_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// How long a request waits for a PostgreSQL connection before it is told
/// the database is unavailable.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
];

/// The current time, fixed-width so that text order is time order.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

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

    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a read lock upgraded later fails at once with
    /// "database is locked" when another writer got there first.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Brings the schema up to the newest version, applying each missing
    /// migration in order, all in one transaction. Concurrent openers are
    /// serialized (SQLite's write lock; an advisory lock on PostgreSQL), so
    /// each migration runs once.
    async fn migrate(&self) -> Result<()> {
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

    /// Appends an audit entry to the batch, chained to the one before; the
    /// batch inserts its entries together before it commits.
    async fn audit(b: &mut Batch, actor: &str, kind: &str, subject: &str, data: serde_json::Value) -> Result<()> {
        let seq = b.seq + 1;
        let at = now();
        let data = data.to_string();
        let hash = audit_hash(seq, &at, actor, kind, subject, &data, &b.hash);
        let prev = std::mem::replace(&mut b.hash, hash.clone());
        b.seq = seq;
        b.audit.push((seq, at, actor.into(), kind.into(), subject.into(), data, prev, hash));
        Ok(())
    }

    /// Runs a write in the next group commit.
    async fn batched<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnMut(&'a mut Batch) -> batch::BoxFut<'a, Result<T>> + Send + 'static,
    {
        batch::submit(&self.batcher, f).await
    }

    /// Records a built release; recording the same release again is a no-op.
    pub async fn register_release(&self, r: &NewRelease, actor: &str) -> Result<bool> {
        text::release(r, actor)?;
        let (r, actor) = (r.clone(), actor.to_string());
        self.batched(move |b| {
            let (r, actor) = (r.clone(), actor.clone());
            Box::pin(async move { Self::register_release_in(b, &r, &actor).await })
        })
        .await
    }

    async fn register_release_in(b: &mut Batch, r: &NewRelease, actor: &str) -> Result<bool> {
        let exists = sqlx::query("SELECT digest FROM releases WHERE app = $1 AND id = $2")
            .bind(&r.app)
            .bind(&r.id)
            .fetch_optional(&mut *b.tx)
            .await?;
        if let Some(row) = exists {
            let digest: String = row.try_get("digest")?;
            if digest != r.digest {
                return Err(LedgerError::Refused(format!(
                    "release {} of {} is already recorded with another digest",
                    r.id, r.app
                )));
            }
            return Ok(false);
        }
        sqlx::query("INSERT INTO releases (app, id, digest, revision, built_by, created, files, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&r.app)
            .bind(&r.id)
            .bind(&r.digest)
            .bind(&r.revision)
            .bind(&r.built_by)
            .bind(&r.created)
            .bind(r.files)
            .bind(r.bytes)
            .execute(&mut *b.tx)
            .await?;
        Self::audit(b, actor, "release.registered", &format!("{}/{}", r.app, r.id), json!(r)).await?;
        Ok(true)
    }

    /// Starts a deployment (status `running`) and returns its id, with no
    /// runner recorded; see [`Ledger::start_leased`].
    pub async fn start_deployment(&self, d: &NewDeployment, stale_after: std::time::Duration) -> Result<i64> {
        self.start_leased(d, stale_after, None).await
    }

    /// Starts a deployment (status `running`) and returns its id. A
    /// rollback names the deployment it undoes, which turns `undone` when
    /// the rollback succeeds. With a [`Lease`], the runner is recorded and
    /// holds the environment until `lease.ttl` from now, renewed with
    /// [`Ledger::renew_lease`].
    ///
    /// One deployment of an app runs in an environment at a time. Another
    /// one still running is closed as failed, saying why, when its runner
    /// is certainly dead (by `lease.judge`), its lease ran out, or (recorded
    /// without a lease) it started more than `stale_after` ago; only a
    /// forced rollback (the break-glass) takes over from one still live,
    /// closing it as abandoned; otherwise this one is refused. A quarantined
    /// release is refused unless forced. The rest of the gate
    /// ([`Ledger::judge`]) is the caller's to ask first.
    /// Writers are serialized on the audit head first, so two racing starts
    /// cannot both see the environment free.
    pub async fn start_leased(
        &self,
        d: &NewDeployment,
        stale_after: std::time::Duration,
        lease: Option<Lease>,
    ) -> Result<i64> {
        text::deployment(d)?;
        let d = d.clone();
        self.batched(move |b| {
            let (d, lease) = (d.clone(), lease.clone());
            Box::pin(async move { Self::start_deployment_in(b, &d, stale_after, lease).await })
        })
        .await
    }

    async fn start_deployment_in(
        b: &mut Batch,
        d: &NewDeployment,
        stale_after: std::time::Duration,
        lease: Option<Lease>,
    ) -> Result<i64> {
        if let Some(undone) = d.undoes {
            Self::deployment_in(b, undone).await?; // a rollback undoes a deployment that exists
        }
        // The gate judged the release before this write; what may have
        // changed since (a quarantine, a deployment started) is checked
        // again here, in the transaction.
        let mut overrode = d.force.as_ref().map(|f| f.overrode.clone());
        if let Some(q) = Self::quarantine_of(&mut b.tx, &d.app, &d.release).await? {
            let why = gate::quarantined(&q);
            match &mut overrode {
                None => return Err(LedgerError::Refused(format!("release {} of {} is {why}", d.release, d.app))),
                Some(o) if !o.contains(&why) => o.push(why),
                Some(_) => {}
            }
        }
        let running = sqlx::query("SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id")
            .bind(&d.app)
            .bind(&d.env)
            .bind(Status::Running.as_str())
            .fetch_all(&mut *b.tx)
            .await?;
        let running = running.iter().map(deployment_from).collect::<Result<Vec<_>>>()?;
        // Only a forced rollback takes over from a deployment still live.
        let takes_over = d.trigger == Trigger::Rollback && overrode.is_some();
        let mut closing = Vec::new();
        for other in &running {
            match lease::abandoned(other, stale_after, lease.as_ref()) {
                Some(why) => closing.push((other, why)),
                None if takes_over => {
                    if let Some(o) = &mut overrode {
                        o.push(lease::still_running(other));
                    }
                    let why = format!("abandoned: a forced rollback by {} took over while it was running", d.actor);
                    closing.push((other, why));
                }
                None => return Err(lease::busy(other, d.trigger)),
            }
        }
        for (other, why) in closing {
            Self::transition(b, other, Status::Failed, Some(&why), &d.actor).await?;
        }
        let forced = overrode.filter(|o| !o.is_empty()).map(|o| o.join("; "));
        let started = now();
        let (runner, until) = match &lease {
            Some(l) => {
                (l.runner.as_ref().map(|r| serde_json::to_string(r).expect("runner serializes")), Some(l.until()))
            }
            None => (None, None),
        };
        let row = sqlx::query(
            "INSERT INTO deployments (app, env, release, trigger, actor, reason, config_digest, status, undoes, started, forced, runner, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(&d.app)
        .bind(&d.env)
        .bind(&d.release)
        .bind(d.trigger.as_str())
        .bind(&d.actor)
        .bind(&d.reason)
        .bind(&d.config_digest)
        .bind(Status::Running.as_str())
        .bind(d.undoes)
        .bind(&started)
        .bind(&forced)
        .bind(runner)
        .bind(until)
        .fetch_one(&mut *b.tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let mut data = json!(d);
        data["id"] = json!(id);
        data["forced"] = json!(forced);
        if let Some(r) = lease.as_ref().and_then(|l| l.runner.as_ref()) {
            data["runner"] = json!(r);
        }
        Self::audit(b, &d.actor, "deployment.started", &id.to_string(), data).await?;
        if let Some(overrode) = &forced {
            let data = json!({
                "id": id, "app": d.app, "env": d.env, "release": d.release, "trigger": d.trigger,
                "reason": d.reason, "overrode": overrode,
            });
            Self::audit(b, &d.actor, "deployment.forced", &id.to_string(), data).await?;
        }
        Ok(id)
    }

    /// A deployment as it stands inside the batch (read once per batch:
    /// a burst of reports about one deployment costs one lookup).
    async fn deployment_in(b: &mut Batch, id: i64) -> Result<Deployment> {
        if let Some(d) = b.deployments.get(&id) {
            return Ok(d.clone());
        }
        let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *b.tx)
            .await?
            .ok_or(LedgerError::NoDeployment(id))?;
        let d = deployment_from(&row)?;
        b.deployments.insert(id, d.clone());
        Ok(d)
    }

    /// Whether the transition table lets `d` become `to`.
    fn may_become(d: &Deployment, to: Status) -> Result<()> {
        if d.status.can_become(to) {
            return Ok(());
        }
        Err(LedgerError::Refused(format!(
            "deployment {} is {}; it cannot become {}",
            d.id,
            d.status.as_str(),
            to.as_str()
        )))
    }

    async fn transition(b: &mut Batch, d: &Deployment, to: Status, message: Option<&str>, actor: &str) -> Result<()> {
        let (id, from) = (d.id, d.status);
        Self::may_become(d, to)?;
        let finished = (to != Status::Undone).then(now);
        sqlx::query("UPDATE deployments SET status = $1, message = COALESCE($2, message), finished = COALESCE($3, finished) WHERE id = $4")
            .bind(to.as_str())
            .bind(message)
            .bind(finished)
            .bind(id)
            .execute(&mut *b.tx)
            .await?;
        b.deployments.remove(&id);
        let data = json!({
            "id": id, "app": d.app, "env": d.env, "release": d.release, "trigger": d.trigger,
            "from": from.as_str(), "to": to.as_str(), "message": message,
        });
        Self::audit(b, actor, &format!("deployment.{}", to.as_str()), &id.to_string(), data).await
    }

    /// Records a host's result in the batch; a batch writes its host
    /// results together before it commits, the newest for each host.
    fn upsert_host(b: &mut Batch, d: &Deployment, h: &HostResult) {
        b.hosts.insert((d.id, h.host.clone()), h.clone());
    }

    /// Records (or updates) one host's part while a deployment runs.
    pub async fn record_host(&self, id: i64, h: &HostResult, actor: &str) -> Result<()> {
        text::host("", h)?;
        text::check("actor", actor, text::Kind::Line)?;
        let (h, actor) = (h.clone(), actor.to_string());
        self.batched(move |b| {
            let (h, actor) = (h.clone(), actor.clone());
            Box::pin(async move { Self::record_host_in(b, id, &h, &actor).await })
        })
        .await
    }

    async fn record_host_in(b: &mut Batch, id: i64, h: &HostResult, actor: &str) -> Result<()> {
        let d = Self::deployment_in(b, id).await?;
        if d.status != Status::Running {
            return Err(LedgerError::Refused(format!(
                "deployment {id} is {}; host results can only change while it runs",
                d.status.as_str()
            )));
        }
        Self::upsert_host(b, &d, h);
        let data = json!({"deployment": id, "app": d.app, "env": d.env, "release": d.release, "host": h});
        Self::audit(b, actor, "host.result", &id.to_string(), data).await?;
        Ok(())
    }

    /// Ends a deployment with `status` and each host's result.
    pub async fn finish_deployment(
        &self,
        id: i64,
        status: Status,
        message: Option<&str>,
        hosts: &[HostResult],
        actor: &str,
    ) -> Result<()> {
        text::finish(message, hosts, actor)?;
        let (message, hosts, actor) = (message.map(str::to_string), hosts.to_vec(), actor.to_string());
        self.batched(move |b| {
            let (message, hosts, actor) = (message.clone(), hosts.clone(), actor.clone());
            Box::pin(async move { Self::finish_deployment_in(b, id, status, message.as_deref(), &hosts, &actor).await })
        })
        .await
    }

    async fn finish_deployment_in(
        b: &mut Batch,
        id: i64,
        status: Status,
        message: Option<&str>,
        hosts: &[HostResult],
        actor: &str,
    ) -> Result<()> {
        let d = Self::deployment_in(b, id).await?;
        Self::may_become(&d, status)?;
        // A rollback that succeeded undoes the deployment it went back from,
        // unless a rollback racing it already did (or it never succeeded):
        // what it undoes was read before it ran.
        let undone = match (status, d.undoes) {
            (Status::Succeeded, Some(undone)) => {
                let u = Self::deployment_in(b, undone).await?;
                (u.status == Status::Succeeded).then_some(u)
            }
            _ => None,
        };
        for h in hosts {
            Self::upsert_host(b, &d, h);
        }
        Self::transition(b, &d, status, message, actor).await?;
        if let Some(u) = undone {
            Self::transition(b, &u, Status::Undone, None, actor).await?;
        }
        Ok(())
    }

    /// Records what an outside tool (or a person) found about a deployment.
    /// A newer report of the same name supersedes an older one.
    pub async fn report_verification(&self, v: &NewVerification) -> Result<i64> {
        text::verification(v)?;
        let v = v.clone();
        self.batched(move |b| {
            let v = v.clone();
            Box::pin(async move { Self::report_verification_in(b, &v).await })
        })
        .await
    }

    async fn report_verification_in(b: &mut Batch, v: &NewVerification) -> Result<i64> {
        let d = Self::deployment_in(b, v.deployment).await?;
        let id = match b.next_verification {
            Some(id) => id,
            None => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM verifications").fetch_one(&mut *b.tx).await?;
                max.unwrap_or(0) + 1
            }
        };
        b.next_verification = Some(id + 1);
        let row = (
            id,
            v.deployment,
            v.name.clone(),
            v.result.as_str().to_string(),
            v.link.clone(),
            v.reporter.clone(),
            now(),
        );
        b.verifications.push(row);
        let mut data = json!(v);
        data["app"] = json!(d.app);
        data["env"] = json!(d.env);
        data["release"] = json!(d.release);
        Self::audit(b, &v.reporter, "verification.reported", &v.deployment.to_string(), data).await?;
        Ok(id)
    }

    /// Records `actor`'s approval of `release` for `env` (once per actor).
    pub async fn approve(&self, app: &str, release: &str, env: &str, actor: &str, comment: Option<&str>) -> Result<()> {
        text::fields(&[("app", app), ("release", release), ("env", env), ("actor", actor)], &[("comment", comment)])?;
        let [app, release, env, actor] = [app, release, env, actor].map(str::to_string);
        let comment = comment.map(str::to_string);
        self.batched(move |b| {
            let (app, release, env, actor, comment) =
                (app.clone(), release.clone(), env.clone(), actor.clone(), comment.clone());
            Box::pin(async move { Self::approve_in(b, &app, &release, &env, &actor, comment.as_deref()).await })
        })
        .await
    }

    async fn approve_in(
        b: &mut Batch,
        app: &str,
        release: &str,
        env: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<()> {
        let dup = sqlx::query("SELECT id FROM approvals WHERE app = $1 AND release = $2 AND env = $3 AND actor = $4")
            .bind(app)
            .bind(release)
            .bind(env)
            .bind(actor)
            .fetch_optional(&mut *b.tx)
            .await?;
        if dup.is_some() {
            return Err(LedgerError::Refused(format!("{actor} already approved {release} of {app} for {env}")));
        }
        sqlx::query("INSERT INTO approvals (app, release, env, actor, comment, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(app)
            .bind(release)
            .bind(env)
            .bind(actor)
            .bind(comment)
            .bind(now())
            .execute(&mut *b.tx)
            .await?;
        Self::audit(
            b,
            actor,
            "approval.recorded",
            &format!("{app}/{release}"),
            json!({"app": app, "release": release, "env": env, "comment": comment}),
        )
        .await?;
        Ok(())
    }

    async fn quarantine_of(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        app: &str,
        release: &str,
    ) -> Result<Option<Quarantine>> {
        let row =
            sqlx::query("SELECT app, release, reason, actor, at FROM quarantines WHERE app = $1 AND release = $2")
                .bind(app)
                .bind(release)
                .fetch_optional(&mut **tx)
                .await?;
        row.map(|r| quarantine_from(&r)).transpose()
    }

    /// Quarantines a release: nothing deploys or promotes it again.
    pub async fn quarantine(&self, app: &str, release: &str, reason: &str, actor: &str) -> Result<()> {
        text::fields(&[("app", app), ("release", release), ("actor", actor)], &[("reason", Some(reason))])?;
        let [app, release, reason, actor] = [app, release, reason, actor].map(str::to_string);
        self.batched(move |b| {
            let [app, release, reason, actor] = [&app, &release, &reason, &actor].map(|s| s.clone());
            Box::pin(async move { Self::quarantine_in(b, &app, &release, &reason, &actor).await })
        })
        .await
    }

    async fn quarantine_in(b: &mut Batch, app: &str, release: &str, reason: &str, actor: &str) -> Result<()> {
        if let Some(q) = Self::quarantine_of(&mut b.tx, app, release).await? {
            return Err(LedgerError::Refused(format!(
                "release {release} of {app} is already quarantined ({}, by {} at {})",
                q.reason, q.actor, q.at
            )));
        }
        sqlx::query("INSERT INTO quarantines (app, release, reason, actor, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(app)
            .bind(release)
            .bind(reason)
            .bind(actor)
            .bind(now())
            .execute(&mut *b.tx)
            .await?;
        Self::audit(
            b,
            actor,
            "quarantine.added",
            &format!("{app}/{release}"),
            json!({"app": app, "release": release, "reason": reason}),
        )
        .await?;
        Ok(())
    }

    pub async fn quarantined(&self, app: &str, release: &str) -> Result<Option<Quarantine>> {
        let mut tx = self.pool.begin().await?;
        let q = Self::quarantine_of(&mut tx, app, release).await?;
        tx.commit().await?;
        Ok(q)
    }

    /// A page of approvals of `app` (optionally of one release and one
    /// environment) older than `before` (an id), newest first.
    pub async fn approval_list(
        &self,
        app: &str,
        release: Option<&str>,
        env: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Approval>> {
        let rows = sqlx::query(
            "SELECT * FROM approvals WHERE app = $1 AND ($2 IS NULL OR release = $3) AND ($4 IS NULL OR env = $5) \
             AND ($6 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
        )
        .bind(app)
        .bind(release)
        .bind(release)
        .bind(env)
        .bind(env)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Approval {
                    id: r.try_get("id")?,
                    app: r.try_get("app")?,
                    release: r.try_get("release")?,
                    env: r.try_get("env")?,
                    actor: r.try_get("actor")?,
                    comment: r.try_get("comment")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// The quarantined releases of `app`, newest first.
    pub async fn quarantine_list(&self, app: &str) -> Result<Vec<Quarantine>> {
        let rows =
            sqlx::query("SELECT app, release, reason, actor, at FROM quarantines WHERE app = $1 ORDER BY at DESC")
                .bind(app)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(quarantine_from).collect()
    }

    /// Deployments, newest first, optionally of one app and environment.
    pub async fn deployments(&self, app: Option<&str>, env: Option<&str>, limit: i64) -> Result<Vec<Deployment>> {
        self.deployments_before(app, env, None, limit).await
    }

    /// A page of deployments older than `before` (an id), newest first.
    pub async fn deployments_before(
        &self,
        app: Option<&str>,
        env: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Deployment>> {
        let rows = sqlx::query(
            "SELECT * FROM deployments WHERE ($1 IS NULL OR app = $2) AND ($3 IS NULL OR env = $4) \
             AND ($5 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7",
        )
        .bind(app)
        .bind(app)
        .bind(env)
        .bind(env)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from).collect()
    }

    /// A page of `app`'s releases older than `before` (an id), newest first.
    pub async fn releases(&self, app: &str, before: Option<&str>, limit: i64) -> Result<Vec<Release>> {
        let rows =
            sqlx::query("SELECT * FROM releases WHERE app = $1 AND ($2 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4")
                .bind(app)
                .bind(before)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Release {
                    app: r.try_get("app")?,
                    id: r.try_get("id")?,
                    digest: r.try_get("digest")?,
                    revision: r.try_get("revision")?,
                    built_by: r.try_get("built_by")?,
                    created: r.try_get("created")?,
                    files: r.try_get("files")?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .collect()
    }

    pub async fn deployment(&self, id: i64) -> Result<Deployment> {
        let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(LedgerError::NoDeployment(id))?;
        deployment_from(&row)
    }

    pub async fn host_results(&self, deployment: i64) -> Result<Vec<HostResult>> {
        let rows = sqlx::query("SELECT * FROM host_results WHERE deployment = $1 ORDER BY host")
            .bind(deployment)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HostResult {
                    host: r.try_get("host")?,
                    phase: r.try_get("phase")?,
                    status: r.try_get("status")?,
                    error: r.try_get("error")?,
                    elapsed_ms: r.try_get("elapsed_ms")?,
                })
            })
            .collect()
    }

    /// The verifications of a deployment that stand: the newest of each name.
    pub async fn verifications(&self, deployment: i64) -> Result<Vec<Verification>> {
        let rows = sqlx::query("SELECT * FROM verifications WHERE deployment = $1 ORDER BY id")
            .bind(deployment)
            .fetch_all(&self.pool)
            .await?;
        let mut by_name: std::collections::BTreeMap<String, Verification> = Default::default();
        for r in rows {
            let v = Verification {
                id: r.try_get("id")?,
                deployment: r.try_get("deployment")?,
                name: r.try_get("name")?,
                result: VerificationResult::parse(&r.try_get::<String, _>("result")?),
                link: r.try_get("link")?,
                reporter: r.try_get("reporter")?,
                at: r.try_get("at")?,
            };
            by_name.insert(v.name.clone(), v);
        }
        Ok(by_name.into_values().collect())
    }

    /// The deployment whose release the ledger says `env` runs: the newest
    /// that succeeded and was not undone since.
    pub async fn live(&self, app: &str, env: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(
            "SELECT * FROM deployments WHERE app = $1 AND env = $2 AND status = $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(app)
        .bind(env)
        .bind(Status::Succeeded.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(deployment_from).transpose()
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
                    at: r.try_get("at")?,
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

fn audit_hash(seq: i64, at: &str, actor: &str, kind: &str, subject: &str, data: &str, prev: &str) -> String {
    let mut h = blake3::Hasher::new();
    for part in [&seq.to_string(), at, actor, kind, subject, data, prev] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

fn deployment_from(r: &AnyRow) -> Result<Deployment> {
    Ok(Deployment {
        id: r.try_get("id")?,
        app: r.try_get("app")?,
        env: r.try_get("env")?,
        release: r.try_get("release")?,
        trigger: Trigger::parse(&r.try_get::<String, _>("trigger")?),
        actor: r.try_get("actor")?,
        reason: r.try_get("reason")?,
        config_digest: r.try_get("config_digest")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        undoes: r.try_get("undoes")?,
        message: r.try_get("message")?,
        started: r.try_get("started")?,
        finished: r.try_get("finished")?,
        forced: r.try_get("forced")?,
        runner: r.try_get::<Option<String>, _>("runner")?.and_then(|s| serde_json::from_str(&s).ok()),
        lease_until: r.try_get("lease_until")?,
    })
}

fn quarantine_from(r: &AnyRow) -> Result<Quarantine> {
    Ok(Quarantine {
        app: r.try_get("app")?,
        release: r.try_get("release")?,
        reason: r.try_get("reason")?,
        actor: r.try_get("actor")?,
        at: r.try_get("at")?,
    })
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

//! Group commit: concurrent writes share one transaction.
//!
//! Every write appends to the hash-chained audit log, so writes are
//! serialized on the log's head, and each transaction ends with a commit
//! (an fsync on SQLite). Done one by one, that caps a ledger at roughly one
//! write per commit latency. Instead, each write is sent to one writer task
//! per `Ledger`, which takes every write waiting, runs them in one
//! transaction, chains their audit entries in memory, inserts them (and
//! the batch's verifications and host results, the most frequent records)
//! a statement for each kind,
//! updates the head once and commits once. A caller hears back only after the commit that holds
//! its write.
//!
//! The rule every write follows: it makes all its checks before its first
//! change, so a write that is refused (`Refused`, `Busy`, `NoDeployment`,
//! `Invalid`) has changed nothing and the batch goes on without it.
//!
//! A write the database itself refuses must not fail its neighbours
//! either. When a statement of a write fails, the transaction is rolled
//! back, that write is told why, and the rest of the batch runs again
//! without it. When the batch's deferred inserts fail (the rows of several
//! writes go in one statement, so the culprit is unknown), the batch is
//! rolled back and run again in halves, down to the one write that fails.
//! Writes can be run again because nothing of a rolled-back attempt stays:
//! each attempt starts from the database and an empty batch. This costs
//! nothing while writes succeed (no savepoint around each), and a few
//! more transactions when one fails. A failed commit is not retried: its
//! outcome is unknown, so every write of it is told it failed.
//!
//! The head row is locked at the start of each batch (`UPDATE … RETURNING`),
//! so on PostgreSQL the batches of several servers over one database are
//! serialized too, and a check made in a write (say, that an environment
//! has no running deployment) holds until its batch commits.

use crate::{Backend, LedgerError, Result};
use sqlx::{AnyPool, Row};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// The most writes committed together.
const MAX_BATCH: usize = 256;

pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Value = Box<dyn Any + Send>;
/// A write: run again (from scratch) when the attempt it was part of is
/// rolled back.
type Job = Box<dyn for<'a> FnMut(&'a mut Batch) -> BoxFut<'a, Result<Value>> + Send>;

/// One write waiting for the writer, and where its answer goes.
pub(crate) struct Request {
    job: Job,
    reply: oneshot::Sender<Result<Value>>,
}

/// The transaction a batch of writes runs in, with the audit chain's head
/// as it stands inside it.
pub(crate) struct Batch {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    /// The newest audit entry's number and hash, including this batch's.
    pub(crate) seq: i64,
    pub(crate) hash: String,
    /// This batch's audit entries, inserted together before the commit.
    pub(crate) audit: Vec<AuditRow>,
    /// Deployments read in this batch, by id (forgotten when one changes).
    pub(crate) deployments: std::collections::HashMap<i64, crate::Deployment>,
    /// Verifications reported in this batch, inserted together before the
    /// commit, and the id the next one gets. Ids are given here, not by
    /// the database: the batch holds the head lock, so no other writer can
    /// take one meanwhile, and nothing reads verifications inside a batch.
    pub(crate) verifications: Vec<VerificationRow>,
    pub(crate) next_verification: Option<i64>,
    /// Host results recorded in this batch, the newest per deployment and
    /// host, upserted together before the commit.
    pub(crate) hosts: std::collections::BTreeMap<(i64, String), crate::HostResult>,
}

/// id, deployment, name, result, link, reporter, at.
pub(crate) type VerificationRow = (i64, i64, String, String, Option<String>, String, String);

/// One audit entry: seq, at, actor, kind, subject, data, prev, hash.
pub(crate) type AuditRow = (i64, String, String, String, String, String, String, String);

/// Rows per INSERT statement (at most 8 parameters each; SQLite allows
/// 32,766 in one statement, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 500;

/// `($1, …, $n), ($n+1, …)`: placeholders for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts the batch's deferred rows: its verifications, its host results,
/// then its audit entries, a few statements in all.
async fn insert_deferred(b: &mut Batch) -> std::result::Result<(), sqlx::Error> {
    let verifications = std::mem::take(&mut b.verifications);
    for chunk in verifications.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO verifications (id, deployment, name, result, link, reporter, at) VALUES {}",
            placeholders(chunk.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, deployment, name, result, link, reporter, at) in chunk {
            q = q.bind(id).bind(deployment).bind(name).bind(result).bind(link).bind(reporter).bind(at);
        }
        q.execute(&mut *b.tx).await?;
    }
    let hosts: Vec<_> = std::mem::take(&mut b.hosts).into_iter().collect();
    for chunk in hosts.chunks(ROWS_PER_INSERT) {
        // One row per key in a statement: PostgreSQL refuses to update a
        // row twice in one upsert.
        let sql = format!(
            "INSERT INTO host_results (deployment, host, phase, status, error, elapsed_ms) VALUES {} \
             ON CONFLICT (deployment, host) DO UPDATE SET phase = excluded.phase, status = excluded.status, \
             error = excluded.error, elapsed_ms = excluded.elapsed_ms",
            placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((deployment, host), h) in chunk {
            q = q
                .bind(deployment)
                .bind(host)
                .bind(h.phase.as_str())
                .bind(h.status.as_str())
                .bind(&h.error)
                .bind(h.elapsed_ms);
        }
        q.execute(&mut *b.tx).await?;
    }
    let audit = std::mem::take(&mut b.audit);
    for chunk in audit.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit (seq, at, actor, kind, subject, data, prev, hash) VALUES {}",
            placeholders(chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, at, actor, kind, subject, data, prev, hash) in chunk {
            q = q.bind(seq).bind(at).bind(actor).bind(kind).bind(subject).bind(data).bind(prev).bind(hash);
        }
        q.execute(&mut *b.tx).await?;
    }
    Ok(())
}

/// Sends `f` to the writer and waits for its result, which stands once
/// the batch it ran in has committed.
pub(crate) async fn submit<T, F>(writer: &mpsc::UnboundedSender<Request>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: for<'a> FnMut(&'a mut Batch) -> BoxFut<'a, Result<T>> + Send + 'static,
{
    let mut f = f;
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |b| {
        let fut = f(b);
        Box::pin(async move { fut.await.map(|t| Box::new(t) as Value) })
    });
    writer.send(Request { job, reply }).map_err(|_| LedgerError::Write("the ledger's writer has stopped".into()))?;
    let value = answer.await.map_err(|_| LedgerError::Write("the ledger's writer stopped mid-write".into()))??;
    Ok(*value.downcast::<T>().expect("a write answers with its own type"))
}

/// The writer task: runs until every `Ledger` handle is dropped.
pub(crate) async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        commit(&pool, backend, batch).await;
    }
}

/// A batch that could not begin or commit: unavailable when the database
/// could not be reached, else a failed write.
fn failed(e: &sqlx::Error) -> LedgerError {
    if crate::unreachable_database(e) {
        LedgerError::Unavailable(e.to_string())
    } else {
        LedgerError::Write(e.to_string())
    }
}

/// A write refused by its checks, before it changed anything.
fn is_refusal(e: &LedgerError) -> bool {
    matches!(
        e,
        LedgerError::Refused(_) | LedgerError::Busy(_) | LedgerError::NoDeployment(_) | LedgerError::Invalid { .. }
    )
}

/// How one attempt at a batch ended.
enum Attempt {
    /// Committed: each write's value, or its refusal.
    Committed(Vec<Result<Value>>),
    /// Write `i` failed in the database; nothing was committed.
    WriteFailed(usize, LedgerError),
    /// The deferred inserts failed; nothing was committed.
    DeferredFailed(LedgerError),
    /// The transaction could not begin or commit: every write fails.
    Failed(LedgerError),
}

/// Runs `requests` until each is answered: a write that fails in the
/// database is answered alone and the others run again.
async fn commit(pool: &AnyPool, backend: Backend, requests: Vec<Request>) {
    let mut pending = vec![requests];
    while let Some(mut requests) = pending.pop() {
        if requests.is_empty() {
            continue;
        }
        match attempt(pool, backend, &mut requests).await {
            Attempt::Committed(results) => {
                for (r, v) in requests.into_iter().zip(results) {
                    let _ = r.reply.send(v);
                }
            }
            // The database is gone, not this write at fault: running the
            // others again would only wait for it again.
            Attempt::WriteFailed(_, e) | Attempt::DeferredFailed(e) if e.is_unavailable() => {
                let why = e.to_string();
                for r in requests {
                    let _ = r.reply.send(Err(LedgerError::Unavailable(why.clone())));
                }
            }
            Attempt::WriteFailed(i, e) => {
                let _ = requests.remove(i).reply.send(Err(e));
                pending.push(requests);
            }
            Attempt::DeferredFailed(e) if requests.len() == 1 => drop(requests.remove(0).reply.send(Err(e))),
            Attempt::DeferredFailed(_) => {
                let rest = requests.split_off(requests.len() / 2);
                pending.push(rest);
                pending.push(requests);
            }
            Attempt::Failed(e) => {
                let (why, unavailable) = (e.to_string(), e.is_unavailable());
                for r in requests {
                    let e = if unavailable {
                        LedgerError::Unavailable(why.clone())
                    } else {
                        LedgerError::Write(why.clone())
                    };
                    let _ = r.reply.send(Err(e));
                }
            }
        }
    }
}

/// One transaction running every write of `requests`.
async fn attempt(pool: &AnyPool, backend: Backend, requests: &mut [Request]) -> Attempt {
    let begun = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(e) => return Attempt::Failed(failed(&e)),
    };
    // Lock the head: the batch is the only writer of the chain until commit.
    let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| Ok((row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("hash")?)));
    let (seq, hash) = match head {
        Ok(h) => h,
        Err(e) => return Attempt::Failed(failed(&e)),
    };
    let mut b = Batch {
        tx,
        seq,
        hash,
        audit: Vec::new(),
        deployments: Default::default(),
        verifications: Vec::new(),
        next_verification: None,
        hosts: Default::default(),
    };
    let mut results = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter_mut().enumerate() {
        match (r.job)(&mut b).await {
            Err(e) if !is_refusal(&e) => return Attempt::WriteFailed(i, e), // dropping `b` rolls back
            v => results.push(v),
        }
    }
    if results.iter().all(Result::is_err) {
        return Attempt::Committed(results); // nothing to commit; dropping the transaction ends it
    }
    let deferred = async {
        insert_deferred(&mut b).await?;
        if b.seq != seq {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(b.seq)
                .bind(&b.hash)
                .execute(&mut *b.tx)
                .await?;
        }
        Ok::<_, sqlx::Error>(())
    };
    if let Err(e) = deferred.await {
        return Attempt::DeferredFailed(failed(&e));
    }
    match b.tx.commit().await {
        Ok(()) => Attempt::Committed(results),
        Err(e) => Attempt::Failed(failed(&e)),
    }
}

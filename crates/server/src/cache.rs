//! Answers to read requests, kept until the ledger changes.
//!
//! Every write to the ledger moves the audit head in the same transaction,
//! so the head's sequence number is a version of the whole ledger. A read
//! first reads that number (one single-row query) and serves the answer it
//! kept for the same request at the same version; otherwise it computes the
//! answer and keeps it. The head is read from the database every time, not
//! from memory, so writes made by other replicas or by a CLI writing to the
//! database directly are never missed: an answer is never staler than the
//! database. (An answer computed just after a concurrent write may be newer
//! than the version it is kept under; the next read then computes again.)
//!
//! Concurrent reads share head reads: a request may use a head read that
//! *started after the request arrived* (so it reflects every write
//! finished before the request), and waits for one otherwise. Under load
//! that is one head query per database round trip, not one per request.

use crate::ApiError;
use crate::api::Res;
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::Mutex;

/// How many answers are kept; past that, the cache starts over.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct Cache {
    answers: Mutex<HashMap<String, (i64, axum::body::Bytes)>>,
    /// The newest head read: when it started, and what it found.
    head: tokio::sync::Mutex<Option<(std::time::Instant, i64)>>,
}

impl Cache {
    /// The answer to `key` (a request's path and query) at the ledger's
    /// current version, computed by `compute` when it is not kept.
    pub async fn get<F, T>(&self, ledger: &haul_ledger::Ledger, key: String, compute: F) -> Res
    where
        F: Future<Output = Result<T, ApiError>>,
        T: serde::Serialize,
    {
        let version = self.version(ledger).await?;
        if let Some((v, body)) = self.answers.lock().expect("not poisoned").get(&key)
            && *v == version
        {
            return Ok(json(body.clone()));
        }
        let body = serde_json::to_vec(&compute.await?).map_err(|e| ApiError::internal(&e))?;
        let body = axum::body::Bytes::from(body);
        let mut answers = self.answers.lock().expect("not poisoned");
        if answers.len() >= CAPACITY {
            answers.clear();
        }
        answers.insert(key, (version, body.clone()));
        Ok(json(body))
    }

    /// The ledger's version as of a moment after this call began.
    async fn version(&self, ledger: &haul_ledger::Ledger) -> Result<i64, ApiError> {
        let arrived = std::time::Instant::now();
        let mut head = self.head.lock().await;
        if let Some((started, version)) = *head
            && started >= arrived
        {
            return Ok(version);
        }
        let started = std::time::Instant::now();
        let version = ledger.last_event().await?;
        *head = Some((started, version));
        Ok(version)
    }
}

fn json(body: axum::body::Bytes) -> axum::response::Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

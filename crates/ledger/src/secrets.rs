//! Secret files as the ledger knows them: never a value, only a keyed
//! digest per app, environment, host and file, so `haul status` can say
//! when a host holds something other than what the source gives now.
//!
//! Why keyed: a secret is often short (a password, a token), and an
//! unkeyed digest of a short value is found by trying candidates until one
//! hashes the same. The digests are keyed blake3 with a random 256-bit key
//! made by the ledger on first use and kept in it (`secret_key`), not
//! derived from `haul.toml`, which is committed and read by many: a digest
//! that leaves the database (a backup of one table, a log, a copy in a
//! report) cannot be tested against guesses without the key as well. Who
//! holds the whole database holds both, and could guess; the ledger is
//! protected as the deployers' record, and no API route, page or event
//! shows a digest or the key.

use crate::batch::Batch;
use crate::time::text;
use crate::{Ledger, LedgerError, Result, now};
use serde_json::json;
use sqlx::Row;

/// One host's digest of one secret file, and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDigest {
    pub host: String,
    pub path: String,
    pub digest: String,
    pub written: jiff::Timestamp,
}

fn bad(table: &'static str, column: &str, message: String) -> LedgerError {
    LedgerError::BadRow { table, column: column.to_string(), message }
}

fn parse_key(hex: &str) -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    let ok = hex.len() == 64
        && hex.is_ascii()
        && key.iter_mut().enumerate().all(|(i, b)| match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(v) => {
                *b = v;
                true
            }
            Err(_) => false,
        });
    if ok { Ok(key) } else { Err(bad("secret_key", "key", "not 64 hex digits".into())) }
}

impl Ledger {
    /// The key secret digests are made with: made (from the operating
    /// system's random source) and stored by the first caller, the same for
    /// every caller after, on both backends (`ON CONFLICT DO NOTHING`, then
    /// read back).
    pub async fn secret_key(&self) -> Result<[u8; 32]> {
        let have: Option<String> =
            sqlx::query_scalar("SELECT key FROM secret_key WHERE id = 1").fetch_optional(&self.pool).await?;
        if let Some(k) = have {
            return parse_key(&k);
        }
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| LedgerError::Write(format!("no random key: {e}")))?;
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let key = self
            .batched(move |b| {
                let fresh = fresh.clone();
                Box::pin(async move { Self::secret_key_in(b, &fresh).await })
            })
            .await?;
        parse_key(&key)
    }

    async fn secret_key_in(b: &mut Batch, fresh: &str) -> Result<String> {
        let done = sqlx::query("INSERT INTO secret_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(fresh)
            .execute(&mut *b.tx)
            .await?;
        if done.rows_affected() == 1 {
            Self::audit(b, "haul", "secrets.key_made", "secret_key", json!({})).await?;
        }
        Ok(sqlx::query_scalar("SELECT key FROM secret_key WHERE id = 1").fetch_one(&mut *b.tx).await?)
    }

    /// Records that `host` (of `app` in `env`) was given these secret
    /// files, by path, with these keyed digests; the audit log hears of the
    /// paths only.
    pub async fn record_secrets(
        &self,
        app: &str,
        env: &str,
        host: &str,
        files: &[(String, String)],
        actor: &str,
    ) -> Result<()> {
        use crate::text::{Kind, check};
        for (f, v) in [("app", app), ("env", env), ("host", host), ("actor", actor)] {
            check(f, v, Kind::Line)?;
        }
        for (path, digest) in files {
            check("path", path, Kind::Line)?;
            if digest.len() != 64 || !digest.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(LedgerError::Invalid { field: "digest".into(), message: "not a blake3 digest".into() });
            }
        }
        let (app, env, host, files, actor) =
            (app.to_string(), env.to_string(), host.to_string(), files.to_vec(), actor.to_string());
        self.batched(move |b| {
            let (app, env, host, files, actor) = (app.clone(), env.clone(), host.clone(), files.clone(), actor.clone());
            Box::pin(async move {
                let written = text(now());
                for (path, digest) in &files {
                    sqlx::query(
                        "INSERT INTO secret_digests (app, env, host, path, digest, written, actor) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app, env, host, path) DO UPDATE SET \
                         digest = excluded.digest, written = excluded.written, actor = excluded.actor",
                    )
                    .bind(&app)
                    .bind(&env)
                    .bind(&host)
                    .bind(path)
                    .bind(digest)
                    .bind(&written)
                    .bind(&actor)
                    .execute(&mut *b.tx)
                    .await?;
                }
                let paths: Vec<&String> = files.iter().map(|(p, _)| p).collect();
                let data = json!({ "app": app, "env": env, "host": host, "paths": paths });
                Self::audit(b, &actor, "secrets.written", &format!("{app}/{env}/{host}"), data).await
            })
        })
        .await
    }

    /// Every host's digest of every secret file of `app` in `env`, by host
    /// then path.
    pub async fn secret_digests(&self, app: &str, env: &str) -> Result<Vec<SecretDigest>> {
        let rows = sqlx::query(
            "SELECT host, path, digest, written FROM secret_digests WHERE app = $1 AND env = $2 ORDER BY host, path",
        )
        .bind(app)
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let get = |c: &str| r.try_get::<String, _>(c).map_err(|e| bad("secret_digests", c, e.to_string()));
                let written = get("written")?;
                Ok(SecretDigest {
                    host: get("host")?,
                    path: get("path")?,
                    digest: get("digest")?,
                    written: written
                        .parse()
                        .map_err(|e| bad("secret_digests", "written", format!("{written:?} is not a time: {e}")))?,
                })
            })
            .collect()
    }
}

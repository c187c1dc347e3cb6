//! Pull agents as the ledger last heard of them: one row per app,
//! environment and host, the agent's latest report.
//!
//! A report is liveness first and history second. The row is replaced by
//! every newer report (by the report's own time, `at`: an older report,
//! arriving late through the store or a retried POST, never replaces a
//! newer one), but the audit log hears of it (`agent.reported`) only when
//! something a person would want in the history changed: the agent is new,
//! or its phase or blessing version moved. An idle fleet beating every
//! interval writes no audit entries. Such a beat does not move the audit
//! head either, so answers cached by the head must not hold agent rows.
//!
//! A report may also carry a host result for the deployment its blessing
//! belongs to; it is recorded in the same write, only while that deployment
//! runs, and only when the agent's phase changed (a heartbeat repeats what
//! the deployment already holds).

use crate::batch::Batch;
use crate::time::text;
use crate::{DeploymentStatus, HostResult, Ledger, LedgerError, Result, now};
use haul_api::agents::AgentPhase;
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;

/// What an agent reported (its report less the steps the ledger does not
/// keep).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentSeen {
    pub app: String,
    pub env: String,
    pub host: String,
    pub roles: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub wave: Option<u32>,
    pub blessing: Option<u64>,
    pub release: Option<String>,
    pub live: Option<String>,
    pub phase: AgentPhase,
    pub error: Option<String>,
    /// When the agent wrote the report: its last contact.
    #[serde(with = "crate::time::fixed")]
    pub at: jiff::Timestamp,
    /// The agent's haul version.
    pub agent: String,
}

/// An agent's row: its latest report and when the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub seen: AgentSeen,
    pub recorded: jiff::Timestamp,
}

/// What [`Ledger::record_agent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentWrite {
    /// The report is the host's newest and was recorded. `changed`: its
    /// phase or blessing moved (audited); `deployment`: the deployment whose
    /// host result it recorded.
    Recorded { changed: bool, deployment: Option<i64> },
    /// The ledger already holds this very report (the same `at`).
    Same,
    /// The ledger holds a newer report of this host, written at `newer`.
    Older { newer: jiff::Timestamp },
}

fn bad(column: &str, message: String) -> LedgerError {
    LedgerError::BadRow { table: "agents", column: column.to_string(), message }
}

fn check(a: &AgentSeen) -> Result<()> {
    use crate::text::Kind;
    let mut lines: Vec<(String, &str)> =
        vec![("app".into(), &a.app), ("env".into(), &a.env), ("host".into(), &a.host), ("agent".into(), &a.agent)];
    lines.extend(a.release.as_deref().map(|r| ("release".to_string(), r)));
    lines.extend(a.live.as_deref().map(|r| ("live".to_string(), r)));
    for (i, r) in a.roles.iter().enumerate() {
        lines.push((format!("roles[{i}]"), r));
    }
    for (k, v) in &a.labels {
        lines.push((format!("labels.{k} (its name)"), k));
        lines.push((format!("labels.{k}"), v));
    }
    for (f, v) in &lines {
        crate::text::check(f, v, Kind::Line)?;
    }
    if let Some(e) = &a.error {
        crate::text::check("error", e, Kind::Block)?;
    }
    for (field, v) in [("blessing", a.blessing)] {
        if v.is_some_and(|v| i64::try_from(v).is_err()) {
            return Err(LedgerError::Invalid { field: field.into(), message: format!("`{field}` is too large") });
        }
    }
    Ok(())
}

fn row_to_record(r: &sqlx::any::AnyRow) -> Result<AgentRecord> {
    let get = |c: &str| -> Result<String> { r.try_get::<String, _>(c).map_err(|e| bad(c, e.to_string())) };
    let opt =
        |c: &str| -> Result<Option<String>> { r.try_get::<Option<String>, _>(c).map_err(|e| bad(c, e.to_string())) };
    let num = |c: &str| -> Result<Option<i64>> { r.try_get::<Option<i64>, _>(c).map_err(|e| bad(c, e.to_string())) };
    let time = |c: &str| -> Result<jiff::Timestamp> {
        let s = get(c)?;
        s.parse().map_err(|e| bad(c, format!("{s:?} is not a time: {e}")))
    };
    let roles = get("roles")?;
    let labels = get("labels")?;
    let phase = get("phase")?;
    let wave = num("wave")?.map(|w| u32::try_from(w).map_err(|_| bad("wave", format!("{w} is not a wave"))));
    let blessing =
        num("blessing")?.map(|v| u64::try_from(v).map_err(|_| bad("blessing", format!("{v} is not a version"))));
    Ok(AgentRecord {
        seen: AgentSeen {
            app: get("app")?,
            env: get("env")?,
            host: get("host")?,
            roles: serde_json::from_str(&roles).map_err(|e| bad("roles", format!("{roles:?}: {e}")))?,
            labels: serde_json::from_str(&labels).map_err(|e| bad("labels", format!("{labels:?}: {e}")))?,
            wave: wave.transpose()?,
            blessing: blessing.transpose()?,
            release: opt("release")?,
            live: opt("live")?,
            phase: phase.parse().map_err(|e: haul_api::UnknownName| bad("phase", e.to_string()))?,
            error: opt("error")?,
            at: time("at")?,
            agent: get("agent")?,
        },
        recorded: time("recorded")?,
    })
}

impl Ledger {
    /// Records `a` as its host's latest report, unless the ledger holds
    /// a newer one (or this one). With `result`, the host result of the
    /// deployment the report's blessing belongs to is recorded too, when
    /// that deployment runs, is of the same app and environment, and the
    /// agent's phase or blessing changed; a finished deployment is left as
    /// it is (not an error: the report itself still counts).
    pub async fn record_agent(
        &self,
        a: &AgentSeen,
        result: Option<(i64, HostResult)>,
        actor: &str,
    ) -> Result<AgentWrite> {
        check(a)?;
        if let Some((_, h)) = &result {
            crate::text::host("", h)?;
        }
        crate::text::check("actor", actor, crate::text::Kind::Line)?;
        let (a, actor) = (a.clone(), actor.to_string());
        self.batched(move |b| {
            let (a, result, actor) = (a.clone(), result.clone(), actor.clone());
            Box::pin(async move { Self::record_agent_in(b, &a, result, &actor).await })
        })
        .await
    }

    async fn record_agent_in(
        b: &mut Batch,
        a: &AgentSeen,
        result: Option<(i64, HostResult)>,
        actor: &str,
    ) -> Result<AgentWrite> {
        let at = text(a.at);
        let old = sqlx::query("SELECT at, phase, blessing FROM agents WHERE app = $1 AND env = $2 AND host = $3")
            .bind(&a.app)
            .bind(&a.env)
            .bind(&a.host)
            .fetch_optional(&mut *b.tx)
            .await?;
        let old = match old {
            Some(r) => {
                let old_at: String = r.try_get("at")?;
                let phase: String = r.try_get("phase")?;
                let blessing: Option<i64> = r.try_get("blessing")?;
                Some((old_at, phase, blessing))
            }
            None => None,
        };
        if let Some((old_at, _, _)) = &old {
            if *old_at == at {
                return Ok(AgentWrite::Same);
            }
            if *old_at > at {
                let newer = old_at.parse().map_err(|e| bad("at", format!("{old_at:?} is not a time: {e}")))?;
                return Ok(AgentWrite::Older { newer });
            }
        }
        let blessing = a.blessing.map(|v| v as i64);
        let changed = old.as_ref().is_none_or(|(_, phase, b)| phase != a.phase.as_str() || *b != blessing);
        // Every check before the first change: the deployment is read first.
        let mut deployment = None;
        if let Some((id, h)) = result.filter(|_| changed) {
            match Self::deployment_in(b, id).await {
                Ok(d) if d.status == DeploymentStatus::Running && d.app == a.app && d.env == a.env => {
                    deployment = Some((id, h));
                }
                Ok(_) | Err(LedgerError::NoDeployment(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let roles = serde_json::to_string(&a.roles).expect("roles serialize");
        let labels = serde_json::to_string(&a.labels).expect("labels serialize");
        sqlx::query(
            "INSERT INTO agents (app, env, host, roles, labels, wave, blessing, release, live, phase, error, at, agent, recorded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (app, env, host) DO UPDATE SET roles = excluded.roles, labels = excluded.labels, \
             wave = excluded.wave, blessing = excluded.blessing, release = excluded.release, live = excluded.live, \
             phase = excluded.phase, error = excluded.error, at = excluded.at, agent = excluded.agent, \
             recorded = excluded.recorded",
        )
        .bind(&a.app)
        .bind(&a.env)
        .bind(&a.host)
        .bind(roles)
        .bind(labels)
        .bind(a.wave.map(i64::from))
        .bind(blessing)
        .bind(&a.release)
        .bind(&a.live)
        .bind(a.phase.as_str())
        .bind(&a.error)
        .bind(&at)
        .bind(&a.agent)
        .bind(text(now()))
        .execute(&mut *b.tx)
        .await?;
        if changed {
            let subject = format!("{}/{}/{}", a.app, a.env, a.host);
            let data = json!({
                "app": a.app, "env": a.env, "host": a.host, "phase": a.phase.as_str(), "blessing": a.blessing,
                "release": a.release, "live": a.live, "error": a.error, "at": at,
                "from": old.as_ref().map(|(_, p, _)| p),
            });
            Self::audit(b, actor, "agent.reported", &subject, data).await?;
        }
        let deployment = match deployment {
            Some((id, h)) => {
                Self::record_host_in(b, id, &h, actor).await?;
                Some(id)
            }
            None => None,
        };
        Ok(AgentWrite::Recorded { changed, deployment })
    }

    /// Every agent's latest report for `app` in `env`, by host.
    pub async fn agents(&self, app: &str, env: &str) -> Result<Vec<AgentRecord>> {
        let rows = sqlx::query("SELECT * FROM agents WHERE app = $1 AND env = $2 ORDER BY host")
            .bind(app)
            .bind(env)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_record).collect()
    }

    /// The time of the latest report recorded of `host` (for `app` in
    /// `env`), if any.
    pub async fn agent_at(&self, app: &str, env: &str, host: &str) -> Result<Option<jiff::Timestamp>> {
        let at: Option<String> = sqlx::query_scalar("SELECT at FROM agents WHERE app = $1 AND env = $2 AND host = $3")
            .bind(app)
            .bind(env)
            .bind(host)
            .fetch_optional(&self.pool)
            .await?;
        at.map(|s| s.parse().map_err(|e| bad("at", format!("{s:?} is not a time: {e}")))).transpose()
    }
}

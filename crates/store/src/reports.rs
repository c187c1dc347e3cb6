//! What agents tell: each agent's last report per app and environment,
//! kept in the store so waves, `haul status` and `haul deploy` work without
//! a server (and a server that appears later can take them in).

use crate::{Store, StoreError, keys};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest report read back.
pub const MAX_REPORT: u64 = 256 << 10;
/// Reports read at once by [`read_all`].
const READ_AT_ONCE: usize = 16;

/// Where an agent is with a blessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentPhase {
    /// Nothing to do: `live` is the blessed release and healthy.
    Idle,
    Download,
    Unpack,
    PostSync,
    Migrate,
    /// Staged; waiting for an earlier wave (or a claim) before switching.
    Waiting,
    PreJump,
    Switch,
    PostJump,
    Health,
    /// The blessed release is live and passed its health checks.
    Live,
    /// A step failed; `error` says which and why. Retried with backoff.
    Failed,
    /// The blessing was refused (signature, version, expiry, target, digest).
    Refused,
}

/// One step an agent ran, with its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub phase: AgentPhase,
    pub name: String,
    pub ok: bool,
    pub started: Timestamp,
    pub millis: u64,
    /// The end of its output, bounded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// An agent's report for one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReport {
    pub host: String,
    pub app: String,
    pub env: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The wave of the blessing this host belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    /// The blessing version being worked on (or done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blessing: Option<u64>,
    /// The release that blessing names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// What `current` points to on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    pub phase: AgentPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Steps of the current blessing, in order.
    #[serde(default)]
    pub steps: Vec<StepReport>,
    /// When this report was written: the agent's last contact.
    pub at: Timestamp,
    /// The agent's haul version.
    pub agent: String,
}

/// Writes `report` as its host's latest.
pub async fn write(store: &Store, report: &AgentReport) -> Result<(), StoreError> {
    let key = keys::report(
        keys::component("app", &report.app)?,
        keys::component("environment", &report.env)?,
        keys::component("host", &report.host)?,
    );
    let body = serde_json::to_vec(report).expect("a report serializes");
    store.overwrite(&key, Bytes::from(body)).await
}

/// Every agent's latest report for `app` in `env`, by host. A report that
/// cannot be read is returned as an error naming its key, not skipped.
pub async fn read_all(store: &Store, app: &str, env: &str) -> Result<Vec<AgentReport>, StoreError> {
    let prefix = keys::reports(keys::component("app", app)?, keys::component("environment", env)?);
    let keys: Vec<String> = store.list_keys(&prefix).await?.into_iter().filter(|k| k.ends_with(".json")).collect();
    // A fleet's reports are many small objects: read several at once.
    let read = futures_util::stream::iter(keys)
        .map(|key| async move {
            let Some(bytes) = store.get(&key, MAX_REPORT).await? else { return Ok(None) };
            let corrupt = |message: String| StoreError::Corrupt { url: store.url().into(), key: key.clone(), message };
            let report: AgentReport = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            // A report speaks for the host, app and environment of its key
            // only: one found elsewhere was not written by that agent.
            if keys::component("host", &report.host).is_err()
                || keys::report(app, env, &report.host) != key
                || report.app != app
                || report.env != env
            {
                return Err(corrupt(format!(
                    "it is the report of host {:?} for {} in {}",
                    report.host, report.app, report.env
                )));
            }
            Ok(Some(report))
        })
        .buffered(READ_AT_ONCE);
    let mut out: Vec<AgentReport> = read.try_filter_map(|r| async move { Ok(r) }).try_collect().await?;
    out.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

//! What agents tell: each agent's last report per app and environment,
//! kept in the store so waves, `haul status` and `haul deploy` work without
//! a server (and a server that appears later can take them in).
//!
//! Whoever may write the store may write a report, so an environment that
//! lists report keys has its agents seal each report ([`Envelope::seal`])
//! and its readers take only sealed ones ([`Reporters`]): a forged `live`
//! cannot let a later wave switch.

use crate::{Store, StoreError, keys};
use bytes::Bytes;
use futures_util::StreamExt;
use haul_bless::{Envelope, PublicKey, Refusal, SecretKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest report read back, sealed or not.
pub const MAX_REPORT: u64 = 512 << 10;
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

/// Who may speak for a host in the store: the one rule every reader of
/// reports and claims applies (agents, `haul status`, `haul deploy`, the
/// server's intake).
#[derive(Debug, Clone)]
pub enum Reporters {
    /// The environment lists no report keys: any report is taken, sealed
    /// or not (its seal is not judged).
    Anyone,
    /// Only what one of these keys sealed is taken.
    Sealed(Vec<PublicKey>),
}

impl Reporters {
    /// `Sealed` when `keys` names any, else `Anyone`.
    pub fn of(keys: Vec<PublicKey>) -> Reporters {
        if keys.is_empty() { Reporters::Anyone } else { Reporters::Sealed(keys) }
    }

    /// Who `b` lets speak for its hosts: `Sealed` whenever it lists any
    /// report key, even one that cannot be read (a blessing is checked when
    /// read, but one that slipped through believes no one rather than anyone).
    pub fn of_blessing(b: &haul_bless::Blessing) -> Reporters {
        if b.report_keys.is_empty() { Reporters::Anyone } else { Reporters::Sealed(b.reporters()) }
    }

    /// The bytes `body` stands for: an envelope's payload when sealed by
    /// a report key (or not judged, for `Anyone`), the bytes themselves
    /// when plain and `Anyone` may speak; otherwise why not.
    pub fn open(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        // An envelope has a payload; a report or claim never does.
        let sealed = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .is_some_and(|v| v.get("payload").is_some() && v.get("signatures").is_some());
        match (self, sealed) {
            (Reporters::Anyone, false) => Ok(body.to_vec()),
            (Reporters::Anyone, true) => {
                Envelope::from_bytes(body).and_then(|e| e.unverified_payload()).map_err(|r| r.to_string())
            }
            (Reporters::Sealed(_), false) => {
                Err("it is not sealed by a report key of the environment (`report_keys`)".into())
            }
            (Reporters::Sealed(keys), true) => {
                Envelope::from_bytes(body).and_then(|e| e.open(keys)).map_err(|r| match r {
                    Refusal::Unsigned | Refusal::NotEnoughSignatures { .. } => {
                        "it is sealed by no report key of the environment (`report_keys`)".to_string()
                    }
                    Refusal::BadSignature { key } => format!("its seal by report key {key} does not verify"),
                    other => format!("its seal cannot be read: {other}"),
                })
            }
        }
    }
}

/// `json` as the store keeps it: sealed with `seal` when the agent has a
/// report key, else as it is.
pub fn sealed(json: Vec<u8>, seal: Option<&SecretKey>) -> Bytes {
    match seal {
        Some(k) => Bytes::from(Envelope::seal(json, k).to_bytes()),
        None => Bytes::from(json),
    }
}

/// Writes `report` as its host's latest, made plain ([`AgentReport::plain`])
/// and sealed with `seal` when given.
pub async fn write(store: &Store, report: &AgentReport, seal: Option<&SecretKey>) -> Result<(), StoreError> {
    let key = keys::report(
        keys::component("app", &report.app)?,
        keys::component("environment", &report.env)?,
        keys::component("host", &report.host)?,
    );
    let body = serde_json::to_vec(&report.clone().plain()).expect("a report serializes");
    store.overwrite(&key, sealed(body, seal)).await
}

/// Every agent's latest report for `app` in `env`, by host. A report that
/// cannot be read, or that `reporters` do not take, is returned as an
/// error naming its key, not skipped: for a reader that must judge every
/// host (an agent's wave gate waits rather than judge without one).
pub async fn read_all(
    store: &Store,
    app: &str,
    env: &str,
    reporters: &Reporters,
) -> Result<Vec<AgentReport>, StoreError> {
    let read = read_each(store, app, env, reporters).await?;
    match read.problems.into_iter().next() {
        None => Ok(read.reports),
        Some(Unread { key, why: StoreOr::Report(message) }) => {
            Err(StoreError::Corrupt { url: store.url().into(), key, message })
        }
        Some(Unread { why: StoreOr::Store(e), .. }) => Err(e),
    }
}

/// What [`read_each`] read: the reports taken, by host, and those not.
#[derive(Debug, Default)]
pub struct ReadEach {
    pub reports: Vec<AgentReport>,
    pub problems: Vec<Unread>,
}

/// A report [`read_each`] did not take.
#[derive(Debug)]
pub struct Unread {
    pub key: String,
    pub why: StoreOr,
}

/// Why a report was not taken: the store failed to give it, or the report
/// itself ([`parse`]).
#[derive(Debug)]
pub enum StoreOr {
    Store(StoreError),
    Report(String),
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.why {
            StoreOr::Store(e) => write!(f, "{e}"),
            StoreOr::Report(why) => write!(f, "{}: {why}", self.key),
        }
    }
}

/// Every agent's latest report for `app` in `env`, each judged alone: one
/// broken or hostile writer is named in `problems` and does not hide the
/// others (for followers and the server's intake). A store that cannot be
/// listed is an error.
pub async fn read_each(store: &Store, app: &str, env: &str, reporters: &Reporters) -> Result<ReadEach, StoreError> {
    let prefix = keys::reports(keys::component("app", app)?, keys::component("environment", env)?);
    let keys: Vec<String> = store.list_keys(&prefix).await?.into_iter().filter(|k| k.ends_with(".json")).collect();
    // A fleet's reports are many small objects: read several at once.
    let mut read = futures_util::stream::iter(keys)
        .map(|key| async move {
            let why = match store.get(&key, MAX_REPORT).await {
                Ok(None) => return None,
                Ok(Some(bytes)) => match parse(app, env, &key, &bytes, reporters) {
                    Ok(r) => return Some(Ok(r)),
                    Err(message) => StoreOr::Report(message),
                },
                Err(e) => StoreOr::Store(e),
            };
            Some(Err(Unread { key, why }))
        })
        .buffered(READ_AT_ONCE);
    let mut out = ReadEach::default();
    while let Some(r) = read.next().await {
        match r {
            Some(Ok(r)) => out.reports.push(r),
            Some(Err(u)) => out.problems.push(u),
            None => {}
        }
    }
    out.reports.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

/// The report stored at `key` (under `app` in `env`) from its bytes, made
/// plain, or why it cannot be taken: the one reading of a stored report.
/// A report speaks for the host, app and environment of its key only: one
/// found elsewhere was not written by that agent, and one `reporters` do
/// not take was not written by an agent at all.
pub fn parse(app: &str, env: &str, key: &str, bytes: &[u8], reporters: &Reporters) -> Result<AgentReport, String> {
    let bytes = reporters.open(bytes)?;
    // A parse error may quote the report (an unknown phase, say).
    let report: AgentReport = serde_json::from_slice(&bytes).map_err(|e| {
        let mut why = e.to_string();
        plain(&mut why, false, MAX_LINE);
        why
    })?;
    if keys::component("host", &report.host).is_err()
        || keys::report(app, env, &report.host) != key
        || report.app != app
        || report.env != env
    {
        return Err(format!("it is the report of host {:?} for {:?} in {:?}", report.host, report.app, report.env));
    }
    Ok(report.plain())
}

/// The longest line of a report kept (a name, a release, a label), in
/// characters: the ledger's bound for a line.
const MAX_LINE: usize = 2048;
/// The longest error or step output kept: the ledger's bound for a block.
const MAX_BLOCK: usize = 16 * 1024;

impl AgentReport {
    /// The report with every text made safe to show and store: control
    /// characters (terminal escapes, carriage returns that overwrite a
    /// line) become U+FFFD, keeping tabs and line breaks in errors and
    /// outputs, and each text is cut to the ledger's bounds. Whoever can
    /// write the store can write a report, so what one says reaches a
    /// terminal, the ledger or a page only as plain text.
    pub fn plain(mut self) -> AgentReport {
        let lines = self
            .roles
            .iter_mut()
            .chain(self.release.iter_mut())
            .chain(self.live.iter_mut())
            .chain(std::iter::once(&mut self.agent))
            .chain(self.steps.iter_mut().map(|s| &mut s.name));
        for l in lines {
            plain(l, false, MAX_LINE);
        }
        for b in self.error.iter_mut().chain(self.steps.iter_mut().map(|s| &mut s.output)) {
            plain(b, true, MAX_BLOCK);
        }
        self.labels = std::mem::take(&mut self.labels)
            .into_iter()
            .map(|(mut k, mut v)| {
                plain(&mut k, false, MAX_LINE);
                plain(&mut v, false, MAX_LINE);
                (k, v)
            })
            .collect();
        self
    }
}

/// `s` without control characters (but tabs and line feeds when `block`),
/// cut to `max` characters.
fn plain(s: &mut String, block: bool, max: usize) {
    let allowed = |c: char| !c.is_control() || (block && matches!(c, '\t' | '\n'));
    if s.chars().any(|c| !allowed(c)) {
        *s = s.chars().map(|c| if allowed(c) { c } else { '\u{FFFD}' }).collect();
    }
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
    }
}

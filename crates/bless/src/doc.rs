//! The document a blessing signs: every field an agent acts on.

use haul_release::ReleaseId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One blessing of one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blessing {
    /// [`crate::FORMAT`] when written.
    pub format: u32,
    pub app: String,
    pub env: String,
    /// Grows by one with every blessing of this app and environment; the
    /// store refuses a second document of the same version.
    pub version: u64,
    pub release: ReleaseId,
    /// The release's archive (`<id>.tar.zst`) in the store.
    pub archive: ArchiveRef,
    /// The release's record (`<id>.record`, its manifest) in the store.
    pub record: ArchiveRef,
    /// The release this one replaces in the environment, if any (so
    /// `--previous` and a `rollback` failure policy know where to go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ReleaseId>,
    /// Waves in order; empty is one wave of every host.
    #[serde(default)]
    pub waves: Vec<Wave>,
    pub steps: Steps,
    pub issued: Timestamp,
    /// After this an agent refuses the document (TUF's freeze attack): a
    /// blessing is renewed by blessing again.
    pub expires: Timestamp,
    /// Who blessed: the person or token, as the ledger records actors.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The ledger's deployment this blessing belongs to, when it was made
    /// through a ledger (agents report their host results to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<i64>,
    /// The environment's report keys, as `.pub` lines: when there are any,
    /// an agent takes another host's report or claim from the store only
    /// sealed by one of them (whoever may write the store may not speak
    /// for a host). Read them with [`Blessing::reporters`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_keys: Vec<String>,
}

impl Blessing {
    /// The report keys this blessing names ([`Blessing::report_keys`]),
    /// checked when the document was read.
    pub fn reporters(&self) -> Vec<crate::PublicKey> {
        self.report_keys.iter().filter_map(|l| crate::PublicKey::parse("a report key", l).ok()).collect()
    }
}

/// An object of the store, by what its bytes must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRef {
    /// blake3 of the whole object, hex.
    pub blake3: String,
    pub size: u64,
}

/// A wave: which hosts switch together, after every earlier wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub name: String,
    pub select: Selector,
    /// Verifications the environment's deployment must have passed before
    /// the next wave may switch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<String>,
    /// How many of the wave's hosts must be live before the next wave may
    /// switch (0: none; a wave with no hosts is then done).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_live: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Which hosts a wave takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Selector {
    /// Hosts having any of these roles.
    Roles(Vec<String>),
    /// Hosts having every one of these labels.
    Labels(BTreeMap<String, String>),
    /// This share of the hosts not taken by an earlier wave, chosen by a
    /// stable hash of the host's name (the same host always lands in the
    /// same wave).
    Percent(u32),
    /// Every host not taken by an earlier wave.
    Rest,
}

/// What a push deploy would run, carried to agents that have no `haul.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steps {
    /// The app's directory under the agent's root (push's `path`).
    pub path: String,
    /// Paths linked from `shared/` into each release (`dir/` for a directory).
    #[serde(default)]
    pub shared: Vec<String>,
    /// Releases each host keeps.
    pub keep: u32,
    #[serde(default)]
    pub post_upload: Vec<StepDoc>,
    #[serde(default)]
    pub migrate_once: Vec<StepDoc>,
    /// The role whose host runs `migrate_once` (empty: the first wave's
    /// first host to claim it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_role: Option<String>,
    #[serde(default)]
    pub migrate_per_host: Vec<StepDoc>,
    #[serde(default)]
    pub stop: Vec<StepDoc>,
    #[serde(default)]
    pub start: Vec<StepDoc>,
    #[serde(default)]
    pub refresh: Vec<StepDoc>,
    #[serde(default)]
    pub health: Vec<HealthDoc>,
    #[serde(default)]
    pub scripts: ScriptNames,
    /// The secret files (paths under `shared/`) the agent fetches from
    /// `haul server` and writes before migrating; names only, never values.
    /// Absent when there are none, so such documents read as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

/// One host step: a shell command, for hosts with any of `roles` (all when
/// empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    pub run: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// A health check an agent runs on its own host after the switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthDoc {
    pub name: String,
    /// A command; exit 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A URL fetched by the agent; `{host}` is replaced by its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    pub status: u16,
    pub timeout_ms: u64,
    pub retries: u32,
    pub interval_ms: u64,
}

/// The package scripts a release may ship (FTL's five), by path inside the
/// release; a missing file is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptNames {
    pub post_sync: String,
    pub pre_jump: String,
    pub post_jump: String,
    pub un_jump: String,
    pub pre_remove: String,
}

impl Default for ScriptNames {
    fn default() -> Self {
        ScriptNames {
            post_sync: "post-sync.sh".into(),
            pre_jump: "pre-jump.sh".into(),
            post_jump: "post-jump.sh".into(),
            un_jump: "un-jump.sh".into(),
            pre_remove: "pre-remove.sh".into(),
        }
    }
}

//! The shape of `haul.toml`. Every table refuses unknown keys.

use crate::{Duration, KeysConfig, Mode, PackageScripts, Step, StoreConfig, WaveConfig, WebhookConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

/// A whole, validated `haul.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Absolute path of the file this was read from.
    #[serde(skip)]
    pub path: PathBuf,
    /// Directory relative paths in the file are resolved against.
    #[serde(skip)]
    pub dir: PathBuf,
    /// blake3 of the file's text: recorded with every deployment.
    #[serde(skip)]
    pub digest: String,
    /// Where built releases are kept (default `.haul/releases` beside the file).
    pub cache: Option<String>,
    #[serde(default)]
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub lock: LockConfig,
    #[serde(default)]
    pub ssh: SshConfig,
    /// The object store of pull deploys.
    #[serde(default)]
    pub store: StoreConfig,
    /// The keys blessings are signed with.
    #[serde(default)]
    pub keys: KeysConfig,
    #[serde(default)]
    pub apps: BTreeMap<Spanned<String>, App>,
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, Environment>,
    #[serde(default)]
    pub hosts: BTreeMap<Spanned<String>, Host>,
    /// Environment groups: names for lists of environments promoted
    /// together, in order (see `group()`).
    #[serde(default)]
    pub groups: crate::Groups,
    /// Webhooks told about events of every environment (see `webhooks()`).
    #[serde(default)]
    pub webhooks: BTreeMap<Spanned<String>, Spanned<WebhookConfig>>,
}

/// What an app ships: `ship = "dist"` (the tree becomes the release) or
/// `ship = ["bin/app", "config/", "static"]` (each, relative to `workdir`,
/// at the same path in the release; no globs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Ship {
    Tree(String),
    Paths(Vec<String>),
}

impl Ship {
    /// The directory the release is packed from, relative to `workdir`.
    pub fn tree(&self) -> &str {
        match self {
            Ship::Tree(t) => t,
            Ship::Paths(_) => ".",
        }
    }

    /// The listed paths (without a trailing `/`), or `None` for a tree.
    pub fn only(&self) -> Option<Vec<String>> {
        match self {
            Ship::Tree(_) => None,
            Ship::Paths(ps) => Some(ps.iter().map(|p| p.trim_end_matches('/').to_string()).collect()),
        }
    }
}

/// Where deployments are recorded.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// `sqlite://<path>` (relative to the file), `postgres://…`, or the
    /// `http(s)://` address of a `haul server` to record through; default
    /// `.haul/ledger.db` beside the file.
    pub url: Option<Spanned<String>>,
    /// The environment variable holding the bearer token sent to a ledger
    /// server (default `HAUL_TOKEN`).
    pub token_env: Option<String>,
}

/// `haul server`: where it listens and who may use it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:7878`).
    pub listen: Option<String>,
    #[serde(default)]
    pub tokens: Vec<Spanned<Token>>,
}

/// A bearer token, stored as the SHA-256 of its secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Who uses it; recorded as the actor of what it writes.
    pub name: String,
    /// Hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`).
    pub sha256: String,
    /// Any of `read`, `deploy`, `verify`, `approve`, `agent`, `admin`
    /// (admin may do all).
    pub scopes: Vec<String>,
    /// Pull environments whose secret files this token may fetch (with
    /// scope `agent`): `GET /api/v1/agents/secrets`. None by default, for
    /// any scope.
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    /// An `agent` token's hosts: the only ones it may report as (any when
    /// absent). The bindings are checked by `crate::tokens`.
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// An `agent` token's apps: the only ones it may report on, list and
    /// be woken for (any when absent).
    pub apps: Option<Spanned<Vec<Spanned<String>>>>,
    /// An `agent` token's pull environments: the only ones it may report
    /// on, list and be woken for (any when absent).
    pub envs: Option<Spanned<Vec<Spanned<String>>>>,
}

/// How haul uses SSH.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// An `ssh_config` file read before the user's own.
    pub config: Option<Spanned<String>>,
    /// `strict` (default): unknown host keys are refused; `accept-new`:
    /// they are added to known_hosts on first connection.
    #[serde(default)]
    pub host_keys: HostKeys,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// How long connections stay up after a command for the next one to
    /// reuse (`"0s"`: closed when each command ends).
    #[serde(default = "default_persist")]
    pub persist: Duration,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            config: None,
            host_keys: HostKeys::default(),
            connect_timeout: default_connect_timeout(),
            persist: default_persist(),
        }
    }
}

fn default_persist() -> Duration {
    Duration::secs(60)
}

fn default_connect_timeout() -> Duration {
    Duration::secs(10)
}

/// How unknown host keys are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeys {
    #[default]
    Strict,
    AcceptNew,
}

/// How locks are judged stale.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockConfig {
    /// A lock older than this is reported as stale.
    #[serde(default = "default_stale")]
    pub stale_after: Duration,
    /// A running deployment's lease: its runner renews it (every third of
    /// it); once it runs out, the next deployment closes the run as failed.
    #[serde(default = "default_lease")]
    pub lease: Duration,
}

fn default_lease() -> Duration {
    Duration::secs(30)
}

fn default_stale() -> Duration {
    Duration::secs(3600)
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig { stale_after: default_stale(), lease: default_lease() }
    }
}

/// Something deployable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Local build steps, run in `workdir` before a release is packed.
    #[serde(default)]
    pub build: Vec<Step>,
    /// Where build steps run, relative to the config file.
    #[serde(default = "default_workdir")]
    pub workdir: String,
    /// What ships, relative to `workdir`: one tree that becomes the
    /// release, or a list of files and directories, each placed at the
    /// same relative path in the release (see [`Ship`]).
    pub ship: Spanned<Ship>,
    /// How many releases each host keeps.
    #[serde(default = "default_keep")]
    pub keep: Spanned<u32>,
    /// Paths that persist across releases (`dir/` for a directory).
    #[serde(default)]
    pub shared: Vec<Spanned<String>>,
    /// Directory under each host's root (default: the app's name).
    pub path: Option<Spanned<String>>,
    /// Roles whose hosts receive this app (default: every host).
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    /// Steps run in a freshly staged release directory.
    #[serde(default)]
    pub post_upload: Vec<Step>,
    #[serde(default)]
    pub service: Service,
    #[serde(default)]
    pub migrate: Migrate,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub health: Vec<Spanned<HealthCheck>>,
    /// The package scripts pull agents run, by path inside the release.
    #[serde(default)]
    pub scripts: PackageScripts,
    /// Secret files under `shared/`, by path, and where their values come
    /// from (see `secrets.rs`).
    #[serde(default)]
    pub secrets: BTreeMap<Spanned<String>, Spanned<crate::SecretConfig>>,
    /// Content sets `haul content sync` copies (see `content.rs`).
    #[serde(default)]
    pub content: BTreeMap<Spanned<String>, Spanned<crate::ContentSet>>,
}

fn default_workdir() -> String {
    ".".into()
}

fn default_keep() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

/// Service control: `refresh`, or `stop` then `start`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default)]
    pub stop: Vec<Step>,
    #[serde(default)]
    pub start: Vec<Step>,
    #[serde(default)]
    pub refresh: Vec<Step>,
}

/// Migrations, run before the switch in the new release directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migrate {
    /// Run on exactly one host: the first with `role` (or the first host).
    #[serde(default)]
    pub once: Vec<Step>,
    /// Run on every host.
    #[serde(default)]
    pub per_host: Vec<Step>,
    /// The role whose first host runs `once` steps.
    pub role: Option<Spanned<String>>,
    /// Skip migrations unless a changed file matches one of these globs.
    #[serde(default)]
    pub when_changed: Vec<Spanned<String>>,
}

/// Steps run before and after each phase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub before_stage: Vec<Step>,
    #[serde(default)]
    pub after_stage: Vec<Step>,
    #[serde(default)]
    pub before_migrate: Vec<Step>,
    #[serde(default)]
    pub after_migrate: Vec<Step>,
    #[serde(default)]
    pub before_switch: Vec<Step>,
    #[serde(default)]
    pub after_switch: Vec<Step>,
    #[serde(default)]
    pub before_verify: Vec<Step>,
    #[serde(default)]
    pub after_verify: Vec<Step>,
}

/// A check that the switched release is healthy.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub name: Option<String>,
    /// A command run on each host; exit 0 is healthy.
    pub command: Option<String>,
    /// A URL fetched from the machine running haul; `{host}` is replaced by
    /// the host's address.
    pub http: Option<String>,
    /// The HTTP status that counts as healthy.
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default = "default_check_timeout")]
    pub timeout: Duration,
    /// Attempts after the first failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_interval")]
    pub interval: Duration,
}

impl HealthCheck {
    pub fn label(&self) -> String {
        self.name.clone().or_else(|| self.http.clone()).or_else(|| self.command.clone()).unwrap_or_default()
    }
}

fn default_status() -> u16 {
    200
}
fn default_check_timeout() -> Duration {
    Duration::secs(5)
}
fn default_retries() -> u32 {
    2
}
fn default_interval() -> Duration {
    Duration::secs(1)
}

/// One environment: its hosts, where its code and content come from, and
/// what happens when a deploy fails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Hosts, by name from `[hosts]`, in order (a pull environment may
    /// list none: its agents announce themselves).
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// `push` (default) or `pull`; read it with `mode()`.
    pub mode: Option<Spanned<Mode>>,
    /// Pull: the waves hosts switch in, in order (none: one wave of all).
    #[serde(default)]
    pub waves: Vec<Spanned<WaveConfig>>,
    /// Pull: an agent silent this long is flagged (`silent_after()`).
    pub silent_after: Option<Spanned<Duration>>,
    /// Pull: how long `haul deploy` follows the agents (`follow_timeout()`).
    pub timeout: Option<Spanned<Duration>>,
    /// Pull: public key files (relative to the file) whose secret halves
    /// the environment's agents seal their store reports and claims with;
    /// when listed, nothing unsealed in the store speaks for a host
    /// (`Config::report_keys`).
    #[serde(default)]
    pub report_keys: Vec<Spanned<String>>,
    /// `build`, or the environment whose releases this one takes.
    #[serde(default = "default_code")]
    pub code: Spanned<String>,
    /// `canonical`, or the environment whose content this one copies.
    #[serde(default = "default_content")]
    pub content: Spanned<String>,
    /// Content is synced into it only with `--force --reason` (default:
    /// when `content` is `canonical`; see `protected()`).
    pub protected: Option<Spanned<bool>>,
    #[serde(default)]
    pub failure: FailurePolicy,
    /// `fleet`: switch every host at once; `rolling`: in batches (the span
    /// is empty when the file does not say).
    #[serde(default = "default_rollout")]
    pub rollout: Spanned<Rollout>,
    /// Hosts per batch when rolling: a count or a percentage (`"25%"`).
    pub batch: Option<Spanned<BatchSize>>,
    /// Hosts in a first batch of their own when rolling.
    pub canary: Option<Spanned<u32>>,
    /// Wait between batches when rolling.
    pub pause: Option<Spanned<Duration>>,
    /// What a release must show in the upstream environment (`code`) before
    /// it may be promoted here.
    pub requires: Option<Spanned<Requires>>,
    /// Webhooks told about this environment's events only.
    #[serde(default)]
    pub webhooks: BTreeMap<Spanned<String>, Spanned<WebhookConfig>>,
}

/// Promotion requirements.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Verifications that must have passed on the upstream deployment.
    #[serde(default)]
    pub verifications: Vec<String>,
    /// How long the upstream deployment must have run.
    pub soak: Option<Duration>,
    /// How many people must have approved the release for this environment.
    #[serde(default)]
    pub approvals: u32,
}

/// How a deploy switches the hosts of an environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rollout {
    /// Stage on every host, then switch every host.
    #[default]
    Fleet,
    /// Stage on every host, then switch and verify batch by batch.
    Rolling,
}

/// A batch size: a number of hosts, or a percentage of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Hosts(u32),
    Percent(u32),
}

impl BatchSize {
    /// Hosts per batch out of `total` (at least one).
    pub fn of(self, total: usize) -> usize {
        match self {
            BatchSize::Hosts(n) => n as usize,
            BatchSize::Percent(p) => (total * p as usize).div_ceil(100),
        }
        .max(1)
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = BatchSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of hosts or a percentage like \"25%\"")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<BatchSize, E> {
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .map(BatchSize::Hosts)
                    .ok_or_else(|| E::custom("a batch has at least one host"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<BatchSize, E> {
                s.strip_suffix('%')
                    .and_then(|p| p.trim().parse::<u32>().ok())
                    .filter(|p| (1..=100).contains(p))
                    .map(BatchSize::Percent)
                    .ok_or_else(|| E::custom(format!("`{s}` is not a percentage from 1% to 100%")))
            }
        }
        d.deserialize_any(V)
    }
}

fn default_rollout() -> Spanned<Rollout> {
    Spanned::new(0..0, Rollout::Fleet)
}

fn default_code() -> Spanned<String> {
    Spanned::new(0..0, "build".into())
}
fn default_content() -> Spanned<String> {
    Spanned::new(0..0, "canonical".into())
}

/// What a failed deploy does to the hosts it already switched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Switch every switched host back to what it ran before.
    #[default]
    Rollback,
    /// Stop and leave every host as it is.
    Halt,
    /// Record the failure and carry on.
    Continue,
}

/// How haul reaches a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Ssh,
    /// A directory on this machine stands in for the host.
    Local,
}

/// A server (or, with `transport = "local"`, a directory standing in for one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub transport: Option<Spanned<TransportKind>>,
    /// Deploy root: apps live in `<root>/<app>`. Default `/srv` over SSH.
    pub root: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    /// A jump host, or a chain of them (nearest first).
    pub jump: Option<Spanned<Jump>>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `jump = "bastion"` or `jump = ["outer", "inner"]`: hops, nearest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump(pub Vec<String>);

impl<'de> Deserialize<'de> for Jump {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Jump;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a host name or a list of host names, nearest first")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Jump, E> {
                Ok(Jump(vec![s.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Jump, A::Error> {
                let mut hops = Vec::new();
                while let Some(h) = seq.next_element::<String>()? {
                    hops.push(h);
                }
                Ok(Jump(hops))
            }
        }
        d.deserialize_any(V)
    }
}

impl Host {
    pub fn kind(&self) -> TransportKind {
        self.transport.as_ref().map(|t| *t.get_ref()).unwrap_or_default()
    }
}

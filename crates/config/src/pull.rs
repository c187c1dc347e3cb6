//! The settings of pull deploys: where the object store is (`[store]`),
//! which keys sign blessings (`[keys]`), and, on an environment with
//! `mode = "pull"`, its waves, when an agent counts as silent and how long
//! `haul deploy` follows the agents. Kept apart from the push model so that
//! the checks of one mode name the fields of the other as out of place.

use crate::Duration;
use crate::model::{Config, Environment};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// `[store]`: the object store pull deploys go through.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `file://<dir>` (relative to the file), `s3://bucket/prefix`,
    /// `gs://…`, `az://…`; default `file://<dir of haul.toml>/.haul/store`.
    pub url: Option<Spanned<String>>,
    /// An S3-compatible endpoint (MinIO, R2, a test server).
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<String>,
    /// Allow an `http://` endpoint.
    #[serde(default)]
    pub allow_http: bool,
}

/// `[keys]`: what `haul bless` signs with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Secret key files (made by `haul key new`), relative to the file;
    /// every one signs (k of them for an agent's k-of-n).
    #[serde(default)]
    pub sign: Vec<Spanned<String>>,
    /// Public key files `haul store ls` verifies blessings with.
    #[serde(default)]
    pub trust: Vec<Spanned<String>>,
    /// How many of `trust` must have signed (default 1).
    pub threshold: Option<Spanned<usize>>,
    /// How long a blessing is valid; agents refuse it afterwards.
    #[serde(default = "default_expires")]
    pub expires: Spanned<Duration>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig { sign: Vec::new(), trust: Vec::new(), threshold: None, expires: default_expires() }
    }
}

fn default_expires() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::secs(30 * 86_400))
}

/// How an environment's hosts get their releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// haul connects to each host (SSH or a local directory) and deploys.
    #[default]
    Push,
    /// Agents on the hosts pull what is blessed from the store.
    Pull,
}

/// One wave of a pull environment: which hosts switch together, after
/// every earlier wave.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveConfig {
    pub name: Spanned<String>,
    /// Hosts having any of these roles.
    pub roles: Option<Vec<String>>,
    /// Hosts having every one of these labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// This share of the hosts no earlier wave took.
    pub percent: Option<Spanned<u32>>,
    /// The environment's verifications (`haul verify … --name N`) that must
    /// have passed for this blessing before any later wave switches.
    #[serde(default)]
    pub verifications: Vec<Spanned<String>>,
    /// How many of the wave's hosts must be live on a blessing before any
    /// later wave switches, so a wave cannot be done by having no hosts (a
    /// canary whose report went missing); none by default.
    pub min_live: Option<Spanned<u32>>,
}

/// Which hosts a wave takes, once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaveSelect {
    Roles(Vec<String>),
    Labels(BTreeMap<String, String>),
    Percent(u32),
    /// Every host no earlier wave took.
    Rest,
}

impl WaveConfig {
    pub fn select(&self) -> WaveSelect {
        match (&self.roles, &self.labels, &self.percent) {
            (Some(r), _, _) => WaveSelect::Roles(r.clone()),
            (_, Some(l), _) => WaveSelect::Labels(l.clone()),
            (_, _, Some(p)) => WaveSelect::Percent(*p.get_ref()),
            _ => WaveSelect::Rest,
        }
    }
}

impl Environment {
    pub fn mode(&self) -> Mode {
        self.mode.as_ref().map(|m| *m.get_ref()).unwrap_or_default()
    }

    /// An agent whose last report is older than this is shown as silent.
    pub fn silent_after(&self) -> Duration {
        self.silent_after.as_ref().map_or(Duration::secs(600), |d| *d.get_ref())
    }

    /// How long `haul deploy` follows the agents before the failure policy.
    pub fn follow_timeout(&self) -> Duration {
        self.timeout.as_ref().map_or(Duration::secs(1800), |d| *d.get_ref())
    }
}

impl Config {
    /// The store's URL, a relative `file://` path resolved against the file.
    pub fn store_url(&self) -> String {
        match self.store.url.as_ref().map(|u| u.get_ref().as_str()) {
            Some(u) => match u.strip_prefix("file://") {
                Some(p) if !p.starts_with('/') => format!("file://{}", self.dir.join(p).display()),
                _ => u.to_string(),
            },
            None => format!("file://{}", self.dir.join(".haul/store").display()),
        }
    }

    /// The secret key files `haul bless` signs with.
    pub fn signing_keys(&self) -> Vec<PathBuf> {
        self.keys.sign.iter().map(|k| self.dir.join(k.get_ref())).collect()
    }

    /// The public key files blessings are verified with (`haul store ls`).
    pub fn trusted_keys(&self) -> Vec<PathBuf> {
        self.keys.trust.iter().map(|k| self.dir.join(k.get_ref())).collect()
    }

    pub fn trust_threshold(&self) -> usize {
        self.keys.threshold.as_ref().map_or(1, |t| *t.get_ref())
    }

    /// The public key files of `env`'s `report_keys`, resolved against
    /// the file (none for an environment that is not in it).
    pub fn report_keys(&self, env: &str) -> Vec<PathBuf> {
        self.environments
            .get(env)
            .map(|e| e.report_keys.iter().map(|k| self.dir.join(k.get_ref())).collect())
            .unwrap_or_default()
    }

    /// Whether any environment deploys by pull.
    pub fn has_pull(&self) -> bool {
        self.environments.values().any(|e| e.mode() == Mode::Pull)
    }
}

const STORE_SCHEMES: &[&str] = &["file://", "s3://", "gs://", "az://", "azure://", "abfs://", "abfss://"];

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    if let Some(u) = &c.store.url {
        let s = u.get_ref();
        if !STORE_SCHEMES.iter().any(|p| s.starts_with(p)) {
            return Err((
                u.span(),
                format!("the store `url` must start with one of {} (`{s}` does not)", STORE_SCHEMES.join(", ")),
            ));
        }
        if s == "file://" {
            return Err((u.span(), "the store `url` names no directory".into()));
        }
    }
    if let Some(e) = &c.store.endpoint {
        let s = e.get_ref();
        if !s.starts_with("http://") && !s.starts_with("https://") {
            return Err((e.span(), format!("the store `endpoint` `{s}` must start with http:// or https://")));
        }
        if s.starts_with("http://") && !c.store.allow_http {
            return Err((e.span(), "the store `endpoint` is plain http://; add `allow_http = true` to use it".into()));
        }
    }
    for k in c.keys.sign.iter().chain(&c.keys.trust) {
        if k.get_ref().trim().is_empty() {
            return Err((k.span(), "a key file path must not be empty".into()));
        }
    }
    if let Some(t) = &c.keys.threshold {
        let n = c.keys.trust.len();
        if *t.get_ref() == 0 || *t.get_ref() > n.max(1) {
            return Err((t.span(), format!("`threshold` must be from 1 to the number of `trust` keys ({n})")));
        }
    }
    if c.keys.expires.get_ref().0.is_zero() {
        return Err((c.keys.expires.span(), "`expires` must be longer than 0s: a blessing must live".into()));
    }
    for (name, env) in &c.environments {
        match env.mode() {
            Mode::Push => push_env(name, env)?,
            Mode::Pull => pull_env(env)?,
        }
    }
    for (name, env) in c.environments.iter().filter(|(_, e)| e.mode() == Mode::Pull) {
        migrate_in_first_wave(c, name, env)?;
    }
    Ok(())
}

/// On a pull environment, `migrate.once` runs on a host of the first wave
/// with the migrating role, and every other host waits for it: a first wave
/// of roles that leaves that role out would leave every host waiting.
fn migrate_in_first_wave(c: &Config, env_name: &Spanned<String>, env: &Environment) -> Result<(), Fail> {
    let Some(WaveSelect::Roles(first)) = env.waves.first().map(|w| w.get_ref().select()) else {
        return Ok(());
    };
    for (app, a) in &c.apps {
        if let Some(role) = &a.migrate.role
            && !a.migrate.once.is_empty()
            && !first.contains(role.get_ref())
        {
            return Err((
                role.span(),
                format!(
                    "app `{}` migrates once on a `{}` host, but the first wave of pull environment `{}` takes only roles {}; add `{}` to that wave, or every host waits for a migration nobody may run",
                    app.get_ref(),
                    role.get_ref(),
                    env_name.get_ref(),
                    first.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "),
                    role.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// A wave's `verifications` name objects in the store
/// (`verifications/<app>/<env>/<version>/<name>.json`): the store's rule for
/// a key component, and each name once.
fn verification_names(wave: &str, names: &[Spanned<String>]) -> Result<(), Fail> {
    let mut seen = BTreeSet::new();
    for v in names {
        let n = v.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 128
            && !n.starts_with('.')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err((
                v.span(),
                format!(
                    "wave `{wave}`: verification name `{}` may only use letters, digits, `-`, `_` and `.` (at most 128, not starting with `.`)",
                    n.escape_debug()
                ),
            ));
        }
        if !seen.insert(n.as_str()) {
            return Err((v.span(), format!("wave `{wave}` names verification `{n}` twice")));
        }
    }
    Ok(())
}

/// Pull-only fields on a push environment.
fn push_env(name: &Spanned<String>, env: &Environment) -> Result<(), Fail> {
    let spans = [
        ("waves", env.waves.first().map(Spanned::span)),
        ("silent_after", env.silent_after.as_ref().map(Spanned::span)),
        ("timeout", env.timeout.as_ref().map(Spanned::span)),
        ("report_keys", env.report_keys.first().map(Spanned::span)),
    ];
    if let Some((field, Some(span))) = spans.into_iter().find(|(_, s)| s.is_some()) {
        return Err((
            span,
            format!(
                "`{field}` applies to a pull environment; environment `{}` deploys by push (add `mode = \"pull\"`)",
                name.get_ref()
            ),
        ));
    }
    Ok(())
}

fn pull_env(env: &Environment) -> Result<(), Fail> {
    let rollout = (env.rollout.span() != (0..0)).then(|| env.rollout.span());
    let spans = [
        ("rollout", rollout),
        ("batch", env.batch.as_ref().map(Spanned::span)),
        ("canary", env.canary.as_ref().map(Spanned::span)),
        ("pause", env.pause.as_ref().map(Spanned::span)),
    ];
    if let Some((field, Some(span))) = spans.into_iter().find(|(_, s)| s.is_some()) {
        return Err((
            span,
            format!("`{field}` applies to a push environment; a pull environment orders its hosts by `waves`"),
        ));
    }
    for k in &env.report_keys {
        if k.get_ref().trim().is_empty() {
            return Err((k.span(), "a report key file path must not be empty".into()));
        }
    }
    let mut names = BTreeSet::new();
    let mut rest: Option<&str> = None;
    for w in &env.waves {
        let wave = w.get_ref();
        let n = wave.name.get_ref();
        let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && n.len() <= 64
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err((
                wave.name.span(),
                format!("wave name `{}` may only use letters, digits, `-`, `_` and `.`", n.escape_debug()),
            ));
        }
        if !names.insert(n.as_str()) {
            return Err((wave.name.span(), format!("wave `{n}` is named twice; wave names are unique")));
        }
        if let Some(r) = rest {
            return Err((w.span(), format!("wave `{n}` comes after wave `{r}`, which takes every remaining host")));
        }
        let given = [wave.roles.is_some(), wave.labels.is_some(), wave.percent.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err((
                w.span(),
                format!("wave `{n}` has more than one of `roles`, `labels` and `percent`; give one"),
            ));
        }
        match wave.select() {
            WaveSelect::Roles(r) if r.is_empty() || r.iter().any(|r| r.trim().is_empty()) => {
                return Err((w.span(), format!("wave `{n}`: `roles` must name at least one role, none empty")));
            }
            WaveSelect::Labels(l) if l.is_empty() => {
                return Err((w.span(), format!("wave `{n}`: `labels` must name at least one label")));
            }
            WaveSelect::Percent(p) if !(1..=100).contains(&p) => {
                let span = wave.percent.as_ref().map_or(w.span(), Spanned::span);
                return Err((span, format!("wave `{n}`: `percent` must be from 1 to 100")));
            }
            WaveSelect::Rest => rest = Some(n),
            _ => {}
        }
        verification_names(n, &wave.verifications)?;
        if let Some(m) = &wave.min_live
            && *m.get_ref() == 0
        {
            return Err((m.span(), format!("wave `{n}`: `min_live` must be at least 1 (leave it out for none)")));
        }
    }
    for (field, d) in [("silent_after", &env.silent_after), ("timeout", &env.timeout)] {
        if let Some(d) = d
            && d.get_ref().0.is_zero()
        {
            return Err((d.span(), format!("`{field}` must be longer than 0s")));
        }
    }
    Ok(())
}

//! The agent's configuration: environment variables (FTL's way) or a small
//! file of the same names (`NAME=value` lines, `#` comments), the variables
//! overriding the file. Nothing else configures an agent: it has no
//! `haul.toml`; what a deploy runs travels in the signed blessing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything an agent needs; no `haul.toml`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `HAUL_STORE`: the store's URL.
    pub store: String,
    /// `HAUL_STORE_ENDPOINT`, `HAUL_STORE_REGION`, `HAUL_STORE_ALLOW_HTTP`.
    pub store_options: haul_store::StoreOptions,
    /// `HAUL_ROOT`: the deploy root; each app lives in `<root>/<path>`.
    pub root: PathBuf,
    /// `HAUL_APPS`: the apps this host runs (comma-separated).
    pub apps: Vec<String>,
    /// `HAUL_ENV`: the environment this host belongs to.
    pub env: String,
    /// `HAUL_HOST`: this host's name in reports (default: the hostname).
    pub host: String,
    /// `HAUL_ROLES`: comma-separated.
    pub roles: Vec<String>,
    /// `HAUL_LABELS`: `key=value` pairs, comma-separated.
    pub labels: BTreeMap<String, String>,
    /// `HAUL_TRUST`: `.pub` files (comma-separated) of keys whose blessings
    /// this agent accepts; `HAUL_TRUST_THRESHOLD` of them must sign (default 1).
    pub trust: Vec<PathBuf>,
    pub threshold: usize,
    /// `HAUL_REPORT_KEY`: a secret key file (`haul key new`) whose public
    /// half is among the environment's `report_keys`; the agent seals its
    /// store reports and claims with it.
    pub report_key: Option<PathBuf>,
    /// `HAUL_LEDGER`: a `haul server` to report to and subscribe to
    /// (`HAUL_TOKEN` holds its token, or `HAUL_TOKEN_FILE` names a private
    /// file that does); reports go into the store without it.
    pub ledger: Option<String>,
    pub token: Option<String>,
    /// `HAUL_INTERVAL`: how often the store is polled (default 30s), with
    /// up to a tenth of jitter.
    pub interval: Duration,
    /// `HAUL_MAX_RELEASE`: the largest archive downloaded (default 4 GiB).
    pub max_release: u64,
    /// `HAUL_SILENT_AFTER`: an agent whose last report is older than this
    /// does not hold its wave back (default 10m).
    pub silent_after: Duration,
    /// `HAUL_BACKOFF_MAX`: the longest wait before a failed step is retried
    /// (default 10m; the first retry waits one interval, each next twice as
    /// long).
    pub backoff_max: Duration,
}

/// A setting that is missing or cannot be read, naming the variable (and
/// the file and line when it came from a file).
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub message: String,
}

/// Every variable the agent reads; anything else starting with `HAUL_` in a
/// file is refused as a typo.
pub const VARIABLES: &[&str] = &[
    "HAUL_STORE",
    "HAUL_STORE_ENDPOINT",
    "HAUL_STORE_REGION",
    "HAUL_STORE_ALLOW_HTTP",
    "HAUL_ROOT",
    "HAUL_APPS",
    "HAUL_ENV",
    "HAUL_HOST",
    "HAUL_ROLES",
    "HAUL_LABELS",
    "HAUL_TRUST",
    "HAUL_TRUST_THRESHOLD",
    "HAUL_REPORT_KEY",
    "HAUL_LEDGER",
    "HAUL_TOKEN",
    "HAUL_TOKEN_FILE",
    "HAUL_INTERVAL",
    "HAUL_MAX_RELEASE",
    "HAUL_SILENT_AFTER",
    "HAUL_BACKOFF_MAX",
];

/// A value and where it came from, for messages.
struct Setting {
    value: String,
    from: String,
}

impl AgentConfig {
    /// Reads the settings from variables (`get` is `std::env::var` but
    /// testable).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<AgentConfig, ConfigError> {
        Self::build(BTreeMap::new(), get)
    }

    /// Reads `path` (`NAME=value` lines, `#` comments, blank lines), then
    /// lets this process's environment variables override it.
    pub fn from_file(path: &Path) -> Result<AgentConfig, ConfigError> {
        Self::from_file_and_env(path, |k| std::env::var(k).ok())
    }

    /// [`AgentConfig::from_file`] with the variables read through `get`.
    pub fn from_file_and_env(path: &Path, get: impl Fn(&str) -> Option<String>) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError { source_name: path.display().to_string(), message: e.to_string() })?;
        Self::build(parse_file(path, &text)?, get)
    }

    fn build(
        file: BTreeMap<String, Setting>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<AgentConfig, ConfigError> {
        let look = |name: &str| -> Option<Setting> {
            match get(name).filter(|v| !v.is_empty()) {
                Some(value) => Some(Setting { value, from: name.to_string() }),
                None => file.get(name).map(|s| Setting { value: s.value.clone(), from: s.from.clone() }),
            }
        };
        let bad = |s: &Setting, message: String| ConfigError { source_name: s.from.clone(), message };
        let required = |name: &str| {
            look(name).ok_or_else(|| ConfigError {
                source_name: name.to_string(),
                message: "is required (set it in the environment or in the agent's file)".into(),
            })
        };
        let list = |s: &Setting| -> Vec<String> {
            s.value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
        };
        let name = |s: &Setting, what: &str, v: &str| -> Result<(), ConfigError> {
            haul_store::keys::component(what, v).map(|_| ()).map_err(|e| bad(s, e.to_string()))
        };

        let store = required("HAUL_STORE")?.value;
        let root_s = required("HAUL_ROOT")?;
        let root = PathBuf::from(&root_s.value);
        if !root.is_absolute() {
            return Err(bad(&root_s, format!("{:?} is not an absolute path", root_s.value)));
        }
        let apps_s = required("HAUL_APPS")?;
        let mut apps = list(&apps_s);
        let mut seen = std::collections::BTreeSet::new();
        apps.retain(|a| seen.insert(a.clone()));
        if apps.is_empty() {
            return Err(bad(&apps_s, "names no app".into()));
        }
        for a in &apps {
            name(&apps_s, "app", a)?;
        }
        let env_s = required("HAUL_ENV")?;
        name(&env_s, "environment", &env_s.value)?;
        let host = match look("HAUL_HOST") {
            Some(s) => {
                name(&s, "host", &s.value)?;
                s.value
            }
            None => {
                let h = haul_host::Holder::current().machine;
                haul_store::keys::component("host", &h).map_err(|e| ConfigError {
                    source_name: "HAUL_HOST".into(),
                    message: format!("is not set and the hostname cannot name a report: {e}"),
                })?;
                h
            }
        };
        let roles = look("HAUL_ROLES").map(|s| list(&s)).unwrap_or_default();
        let mut labels = BTreeMap::new();
        if let Some(s) = look("HAUL_LABELS") {
            for pair in list(&s) {
                let Some((k, v)) = pair.split_once('=') else {
                    return Err(bad(&s, format!("{pair:?} is not key=value")));
                };
                labels.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let trust_s = required("HAUL_TRUST")?;
        let trust: Vec<PathBuf> = list(&trust_s).into_iter().map(PathBuf::from).collect();
        if trust.is_empty() {
            return Err(bad(&trust_s, "names no key file".into()));
        }
        let threshold = match look("HAUL_TRUST_THRESHOLD") {
            Some(s) => match s.value.trim().parse::<usize>() {
                Ok(n) if n >= 1 && n <= trust.len() => n,
                _ => return Err(bad(&s, format!("{:?} is not a number from 1 to {}", s.value, trust.len()))),
            },
            None => 1,
        };
        let duration = |var: &str, default: Duration| -> Result<Duration, ConfigError> {
            match look(var) {
                Some(s) => match parse_duration(&s.value) {
                    Some(d) if !d.is_zero() => Ok(d),
                    _ => Err(bad(&s, format!("{:?} is not a duration like \"30s\", \"5m\" or \"1h\"", s.value))),
                },
                None => Ok(default),
            }
        };
        let max_release = match look("HAUL_MAX_RELEASE") {
            Some(s) => parse_size(&s.value)
                .ok_or_else(|| bad(&s, format!("{:?} is not a size like \"500M\" or \"4G\"", s.value)))?,
            None => 4 << 30,
        };
        let allow_http = match look("HAUL_STORE_ALLOW_HTTP") {
            Some(s) => match s.value.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => return Err(bad(&s, format!("{other:?} is not true or false"))),
            },
            None => false,
        };
        Ok(AgentConfig {
            store,
            store_options: haul_store::StoreOptions {
                endpoint: look("HAUL_STORE_ENDPOINT").map(|s| s.value),
                region: look("HAUL_STORE_REGION").map(|s| s.value),
                allow_http,
                timeout: None,
            },
            root,
            apps,
            env: env_s.value,
            host,
            roles,
            labels,
            trust,
            threshold,
            report_key: look("HAUL_REPORT_KEY").map(|s| PathBuf::from(s.value)),
            ledger: look("HAUL_LEDGER").map(|s| s.value),
            token: match (look("HAUL_TOKEN"), look("HAUL_TOKEN_FILE")) {
                (Some(s), _) => Some(s.value),
                (None, Some(f)) => Some(crate::report::read_token_file(Path::new(&f.value)).map_err(|m| bad(&f, m))?),
                (None, None) => None,
            },
            interval: duration("HAUL_INTERVAL", Duration::from_secs(30))?,
            max_release,
            silent_after: duration("HAUL_SILENT_AFTER", Duration::from_secs(600))?,
            backoff_max: duration("HAUL_BACKOFF_MAX", Duration::from_secs(600))?,
        })
    }
}

fn parse_file(path: &Path, text: &str) -> Result<BTreeMap<String, Setting>, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(ConfigError { source_name: at, message: format!("{line:?} is not NAME=value") });
        };
        let k = k.trim();
        if !VARIABLES.contains(&k) {
            return Err(ConfigError { source_name: at, message: format!("{k} is not a setting of the agent") });
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_string(), Setting { value: v.to_string(), from: format!("{at}: {k}") });
    }
    Ok(out)
}

/// `"30s"`, `"5m"`, `"1h 30m"` (jiff's friendly format), or plain seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    static PARSER: jiff::fmt::friendly::SpanParser = jiff::fmt::friendly::SpanParser::new();
    let span = PARSER.parse_span(s.trim()).ok()?;
    let d = span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).ok()?;
    Duration::try_from(d).ok()
}

/// Bytes, with an optional `K`, `M`, `G` or `T` (powers of 1024).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 10),
        (i, 'M' | 'm') => (&s[..i], 20),
        (i, 'G' | 'g') => (&s[..i], 30),
        (i, 'T' | 't') => (&s[..i], 40),
        _ => (s, 0),
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(1u64 << shift).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests;

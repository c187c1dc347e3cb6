//! From names on the command line to the concrete hosts a command touches.

use crate::Mode;
use crate::model::*;
use std::path::PathBuf;

/// A jump host on the way to a host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JumpHop {
    /// The `[hosts]` name, or the destination as written.
    pub key: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl std::fmt::Display for JumpHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)
    }
}

/// How to reach one host, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Reach {
    /// A directory on this machine.
    Local,
    Ssh {
        address: String,
        user: Option<String>,
        port: Option<u16>,
        /// Jump hosts, nearest first.
        jump: Vec<JumpHop>,
    },
}

/// One host as a command sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostTarget {
    pub name: String,
    pub reach: Reach,
    pub roles: Vec<String>,
    /// Deploy root on the host.
    pub root: String,
    /// Address used in `{host}` of HTTP health checks.
    pub address: String,
}

impl HostTarget {
    /// The app's directory on this host.
    pub fn app_dir(&self, app: &str, path: Option<&str>) -> String {
        format!("{}/{}", self.root.trim_end_matches('/'), path.unwrap_or(app))
    }
}

/// Why a name given on the command line does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no app `{0}` in {1} (apps: {2})")]
    UnknownApp(String, String, String),
    #[error("no environment `{0}` in {1} (environments: {2})")]
    UnknownEnv(String, String, String),
    #[error("environment `{env}` has no host `{host}`")]
    UnknownHost { env: String, host: String },
    #[error("no host of environment `{env}` matches {what}")]
    NoHosts { env: String, what: String },
    /// Commands that connect to hosts do not apply to a pull environment.
    #[error(
        "environment `{0}` deploys by pull: its hosts are agents haul does not connect to (see `haul status` and `haul store ls`)"
    )]
    Pull(String),
}

impl Config {
    fn names<V>(map: &std::collections::BTreeMap<toml::Spanned<String>, V>) -> String {
        let v: Vec<&str> = map.keys().map(|k| k.get_ref().as_str()).collect();
        if v.is_empty() { "none defined".into() } else { v.join(", ") }
    }

    pub fn app(&self, name: &str) -> Result<&App, ResolveError> {
        self.apps.get(name).ok_or_else(|| {
            ResolveError::UnknownApp(name.into(), self.path.display().to_string(), Self::names(&self.apps))
        })
    }

    pub fn env(&self, name: &str) -> Result<&Environment, ResolveError> {
        self.environments.get(name).ok_or_else(|| {
            ResolveError::UnknownEnv(name.into(), self.path.display().to_string(), Self::names(&self.environments))
        })
    }

    /// Where built releases are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join(self.cache.as_deref().unwrap_or(".haul/releases"))
    }

    /// The hosts of `env` in config order, optionally only those with one of
    /// `roles` and only those named in `only`.
    pub fn hosts_of(&self, env: &str, roles: &[String], only: &[String]) -> Result<Vec<HostTarget>, ResolveError> {
        let e = self.env(env)?;
        if e.mode() == Mode::Pull {
            return Err(ResolveError::Pull(env.into()));
        }
        for o in only {
            if !e.hosts.iter().any(|h| h.get_ref() == o) {
                return Err(ResolveError::UnknownHost { env: env.into(), host: o.clone() });
            }
        }
        let out: Vec<HostTarget> = e
            .hosts
            .iter()
            .map(|h| self.host_target(h.get_ref()))
            .filter(|h| roles.is_empty() || h.roles.iter().any(|r| roles.contains(r)))
            .filter(|h| only.is_empty() || only.contains(&h.name))
            .collect();
        if out.is_empty() {
            let mut what = vec![];
            if !roles.is_empty() {
                what.push(format!("roles {}", roles.join(", ")));
            }
            if !only.is_empty() {
                what.push(format!("hosts {}", only.join(", ")));
            }
            return Err(ResolveError::NoHosts { env: env.into(), what: what.join(" and ") });
        }
        Ok(out)
    }

    /// The hosts of `env` that receive `app`.
    pub fn app_hosts(&self, app: &str, env: &str, only: &[String]) -> Result<Vec<HostTarget>, ResolveError> {
        let roles: Vec<String> = self.app(app)?.roles.iter().map(|r| r.get_ref().clone()).collect();
        self.hosts_of(env, &roles, only)
    }

    /// How to reach host `name` (which must exist).
    pub fn host_target(&self, name: &str) -> HostTarget {
        let h = &self.hosts[name];
        let root = h.root.as_ref().map(|r| r.get_ref().clone());
        match h.kind() {
            TransportKind::Local => {
                let root = self.dir.join(root.unwrap_or_default());
                let root = std::path::absolute(&root).unwrap_or(root);
                HostTarget {
                    name: name.into(),
                    reach: Reach::Local,
                    roles: h.roles.clone(),
                    root: root.display().to_string(),
                    address: "127.0.0.1".into(),
                }
            }
            TransportKind::Ssh => {
                let address = h.address.as_ref().map_or(name.to_string(), |a| a.get_ref().clone());
                let jump =
                    h.jump.iter().flat_map(|j| j.get_ref().0.iter()).map(|hop| self.jump_destination(hop)).collect();
                HostTarget {
                    name: name.into(),
                    reach: Reach::Ssh {
                        address: address.clone(),
                        user: h.user.as_ref().map(|u| u.get_ref().clone()),
                        port: h.port.as_ref().map(|p| *p.get_ref()),
                        jump,
                    },
                    roles: h.roles.clone(),
                    root: root.unwrap_or_else(|| "/srv".into()),
                    address,
                }
            }
        }
    }

    /// A jump hop names a `[hosts]` entry or is an ssh destination itself
    /// (`[user@]host[:port]`).
    pub(crate) fn jump_destination(&self, hop: &str) -> JumpHop {
        if let Some(h) = self.hosts.get(hop) {
            return JumpHop {
                key: hop.to_string(),
                address: h.address.as_ref().map_or(hop.to_string(), |a| a.get_ref().clone()),
                user: h.user.as_ref().map(|u| u.get_ref().clone()),
                port: h.port.as_ref().map(|p| *p.get_ref()),
            };
        }
        let (user, rest) = match hop.split_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, hop),
        };
        let (address, port) = match rest.rsplit_once(':').map(|(a, p)| (a, p.parse::<u16>())) {
            Some((a, Ok(p))) => (a.to_string(), Some(p)),
            _ => (rest.to_string(), None),
        };
        JumpHop { key: hop.to_string(), address, user, port }
    }

    /// The ledger's URL: as configured (a relative SQLite path resolved
    /// against the file), or `.haul/ledger.db` beside the file.
    pub fn ledger_url(&self) -> String {
        match self.ledger.url.as_ref().map(|u| u.get_ref().as_str()) {
            Some(u) => match u.strip_prefix("sqlite://") {
                Some(p) if !p.starts_with('/') => format!("sqlite://{}", self.dir.join(p).display()),
                _ => u.to_string(),
            },
            None => format!("sqlite://{}", self.dir.join(".haul/ledger.db").display()),
        }
    }

    /// The `ssh_config` named in `[ssh]`, resolved against the file.
    pub fn ssh_config_path(&self) -> Option<PathBuf> {
        self.ssh.config.as_ref().map(|c| self.dir.join(c.get_ref()))
    }
}

//! Pull deploy fixtures: a project with a pull environment, its signing
//! key, and real `haul agent` processes on local roots.

use super::{Killed, Project};
use std::path::PathBuf;
use std::process::Stdio;

/// App `app` (shipping `src/`) with pull environment `fleet` listing
/// `hosts` (its agents' names), signed by `keys/release.key`; `env_extra`
/// is appended to `[environments.fleet]`, `rest` after everything.
pub fn pull_config(hosts: &[&str], env_extra: &str, rest: &str) -> String {
    let listed: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        r#"[apps.app]
ship = "src"

[environments.fleet]
mode = "pull"
hosts = [{}]
{env_extra}

[keys]
sign = ["keys/release.key"]
{rest}
"#,
        listed.join(", ")
    )
}

impl Project {
    /// A pull project with its signing key made.
    pub fn pull(hosts: &[&str], env_extra: &str, rest: &str) -> Project {
        let p = Project::new(&pull_config(hosts, env_extra, rest));
        p.haul(&["key", "new", "release"]).ok();
        p
    }

    /// The store's directory (the default `file://` store).
    pub fn store(&self) -> PathBuf {
        self.path().join(".haul/store")
    }

    /// The deploy root of agent `host`.
    pub fn agent_root(&self, host: &str) -> PathBuf {
        self.path().join(".haul/agents").join(host)
    }

    /// The release `current` points to under agent `host`'s root.
    pub fn agent_live(&self, host: &str) -> Option<String> {
        let link = std::fs::read_link(self.agent_root(host).join("app/current")).ok()?;
        Some(link.strip_prefix("releases").ok()?.display().to_string())
    }

    /// Starts `haul agent` for `host` (with `roles`) polling every 200 ms;
    /// `extra` adds or overrides variables.
    pub fn agent(&self, host: &str, roles: &str, extra: &[(&str, &str)]) -> Killed {
        let root = self.agent_root(host);
        std::fs::create_dir_all(&root).expect("agent root");
        let store = format!("file://{}", self.store().display());
        let trust = self.path().join("keys/release.pub").display().to_string();
        let root = root.display().to_string();
        let mut vars = vec![
            ("HAUL_STORE", store.as_str()),
            ("HAUL_ROOT", root.as_str()),
            ("HAUL_APPS", "app"),
            ("HAUL_ENV", "fleet"),
            ("HAUL_HOST", host),
            ("HAUL_ROLES", roles),
            ("HAUL_TRUST", trust.as_str()),
            ("HAUL_INTERVAL", "200ms"),
        ];
        vars.extend_from_slice(extra);
        let mut c = self.command(&["agent"], &vars);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        Killed(c.spawn().expect("haul agent starts"))
    }
}

//! What haul hands to OpenSSH: the `ssh_config` it writes for a run and the
//! command-line options of each endpoint (a host or a jump hop).
//!
//! Two rules live here. First, a host is reached by its address exactly as
//! written, so a `Host` alias or `Match` block in the user's ssh config
//! applies as it does to `ssh <address>`; haul's own per-host settings
//! (`user`, `port`, its jump chain) go on the command line, where they win
//! as `-l`/`-p`/`-J` would, and everything else is the user's config's to
//! decide. Second, no value from `haul.toml` reaches OpenSSH unchecked: the
//! config crate refuses them first, and [`word`] refuses them again here, so
//! a line break, a space or a quote can never add an option (such as a
//! `ProxyCommand`) to what ssh reads.

use crate::SshOptions;
use std::fmt::Write as _;
use std::path::Path;

/// A value that cannot be handed to ssh, or a file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SshSetupError {
    #[error("host `{host}`: `{field}` {value:?} cannot be handed to ssh: {why}")]
    Unsafe { host: String, field: &'static str, value: String, why: String },
    #[error("{what} {path:?} cannot be written into an ssh_config: {why}")]
    UnsafePath { what: &'static str, path: String, why: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why `value` cannot be one word of an ssh_config line or one ssh
/// argument, if it cannot.
pub fn unsafe_word(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".into());
    }
    if value.starts_with('-') {
        return Some("it starts with `-`, which ssh would read as an option".into());
    }
    value.chars().find_map(|c| unsafe_char(c, true))
}

/// Why `c` cannot appear in a value handed to ssh (`space` allowed or not):
/// the config's rule, checked again here as a second wall.
fn unsafe_char(c: char, refuse_space: bool) -> Option<String> {
    haul_config::ssh_char_problem(c, refuse_space)
}

/// `value` when it is safe as one ssh word for `field` of `host`.
pub(crate) fn word<'a>(host: &str, field: &'static str, value: &'a str) -> Result<&'a str, SshSetupError> {
    match unsafe_word(value) {
        None => Ok(value),
        Some(why) => Err(SshSetupError::Unsafe { host: host.into(), field, value: value.into(), why }),
    }
}

/// A path as an ssh_config argument: quoted when it has spaces, refused when
/// it has anything that would end or split the line.
fn config_path(what: &'static str, p: &Path) -> Result<String, SshSetupError> {
    let s = p.to_str().ok_or_else(|| SshSetupError::UnsafePath {
        what,
        path: p.display().to_string(),
        why: "it is not UTF-8".into(),
    })?;
    if let Some(why) = s.chars().find_map(|c| unsafe_char(c, false)) {
        return Err(SshSetupError::UnsafePath { what, path: s.into(), why });
    }
    Ok(if s.contains(char::is_whitespace) { format!("\"{s}\"") } else { s.to_string() })
}

/// How ssh reaches one endpoint: the destination as written and the options
/// haul sets for it alone.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub dest: String,
    pub args: Vec<String>,
}

impl Endpoint {
    /// `host` names the endpoint in errors; `proxy` is haul's own way through
    /// a jump hop, if it has one.
    pub fn new(
        host: &str,
        address: &str,
        user: Option<&str>,
        port: Option<u16>,
        proxy: Option<String>,
    ) -> Result<Endpoint, SshSetupError> {
        let dest = word(host, "address", address)?.to_string();
        let mut args = Vec::new();
        if let Some(u) = user {
            args.extend(["-o".to_string(), format!("User={}", word(host, "user", u)?)]);
        }
        if let Some(p) = port {
            args.extend(["-o".to_string(), format!("Port={p}")]);
        }
        if let Some(p) = proxy {
            args.extend(["-o".to_string(), format!("ProxyCommand={p}")]);
        }
        Ok(Endpoint { dest, args })
    }
}

/// The `ssh_config` of a run: the settings haul must have first (OpenSSH
/// keeps the first value it reads for an option), then the config named in
/// `haul.toml`, the user's own and the system one.
pub(crate) fn config_text(opts: &SshOptions, home: Option<&Path>) -> Result<String, SshSetupError> {
    let mut t = String::from("# Written by haul for one run: haul's settings, then the user's.\nHost *\n");
    t.push_str("  BatchMode yes\n");
    let strict = if opts.accept_new { "accept-new" } else { "yes" };
    let _ = writeln!(t, "  StrictHostKeyChecking {strict}");
    let _ = writeln!(t, "  ConnectTimeout {}", opts.connect_timeout.as_secs().max(1));
    t.push_str("  ServerAliveInterval 5\n");
    if let Some(c) = &opts.config {
        let _ = writeln!(t, "  Include {}", config_path("the [ssh] config", c)?);
    }
    match home {
        Some(h) => {
            let _ = writeln!(t, "  Include {}", config_path("the home directory", &h.join(".ssh/config"))?);
        }
        None => t.push_str("  Include ~/.ssh/config\n"),
    }
    t.push_str("  Include /etc/ssh/ssh_config\n");
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_could_rewrite_the_config_are_refused() {
        for bad in ["a\nProxyCommand x", "a b", "a\tb", "\"a", "a'b", "-oProxyCommand=x", "", "a\u{7}"] {
            assert!(unsafe_word(bad).is_some(), "{bad:?}");
            let e = Endpoint::new("web", "10.0.0.1", Some(bad), None, None).unwrap_err();
            assert!(e.to_string().contains("host `web`: `user`"), "{e}");
        }
        for ok in ["web1", "10.0.0.1", "::1", "deploy_user", "a.b-c"] {
            assert_eq!(unsafe_word(ok), None, "{ok}");
        }
    }

    #[test]
    fn config_paths_with_line_breaks_are_refused_and_spaces_quoted() {
        assert!(config_path("x", Path::new("/a\nProxyCommand b")).is_err());
        assert!(config_path("x", Path::new("/a\"b")).is_err());
        assert_eq!(config_path("x", Path::new("/a b/c")).unwrap(), "\"/a b/c\"");
    }
}

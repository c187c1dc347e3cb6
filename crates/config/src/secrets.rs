//! Secret files: `[apps.<app>.secrets."<path>"]` names a file under the
//! app's `shared/` directory on every host and, per environment, where its
//! value comes from on the machine running haul (a local file, an
//! environment variable, or a command's standard output).
//!
//! The file itself never holds a value, only where to get one, so
//! `haul.toml` stays fit to commit. This module is the model and its
//! checks; reading the values is I/O and belongs to the deploy crate
//! (`haul_deploy::secrets`). Every environment must say what a secret is
//! in it (a source, or `skip`), so adding an environment never silently
//! deploys an app without its secrets. A pull environment's agents fetch
//! theirs from `haul server` with a token whose `secrets` names the
//! environment.

use crate::Mode;
use crate::model::Config;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// The mode a secret file gets when the file does not say.
pub const DEFAULT_SECRET_MODE: u32 = 0o600;

/// The bits a secret's `mode` may have: read and write for its owner and
/// group; never for others, never execute or special bits.
const MODE_ALLOWED: u32 = 0o660;

/// One secret file as written in `haul.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// Where the value comes from, by environment.
    #[serde(default)]
    pub from: BTreeMap<Spanned<String>, Spanned<SourceConfig>>,
    /// Environments that get no such file.
    #[serde(default)]
    pub skip: Vec<Spanned<String>>,
    /// Octal, like `"0640"` (default `"0600"`); read it with `mode()`.
    pub mode: Option<Spanned<String>>,
    /// The user that owns the file on the hosts (default: the user haul
    /// connects as; another needs root).
    pub owner: Option<Spanned<String>>,
    /// The group that owns the file on the hosts.
    pub group: Option<Spanned<String>>,
}

/// A source as written: a table with exactly one of its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A file on this machine (relative to `haul.toml`'s directory).
    pub file: Option<Spanned<String>>,
    /// An environment variable of the process running haul.
    pub env: Option<Spanned<String>>,
    /// A program and its arguments, run in `haul.toml`'s directory without a
    /// shell; its standard output is the value.
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Where one secret's value comes from in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(String),
    Env(String),
    Command(Vec<String>),
}

impl SourceConfig {
    /// The source this table names (validation made sure it names one).
    pub fn source(&self) -> SecretSource {
        match (&self.file, &self.env, &self.command) {
            (Some(f), _, _) => SecretSource::File(f.get_ref().clone()),
            (_, Some(e), _) => SecretSource::Env(e.get_ref().clone()),
            (_, _, Some(c)) => SecretSource::Command(c.get_ref().iter().map(|a| a.get_ref().clone()).collect()),
            (None, None, None) => unreachable!("validation refuses a source without a kind"),
        }
    }
}

/// One secret file of an app in one environment, ready to be read and
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The path under `shared/`, checked to stay inside it.
    pub path: String,
    pub source: SecretSource,
    pub mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl SecretConfig {
    /// The file's mode (validation made sure it parses).
    pub fn mode(&self) -> u32 {
        self.mode.as_ref().and_then(|m| parse_mode(m.get_ref())).unwrap_or(DEFAULT_SECRET_MODE)
    }
}

impl Config {
    /// The secret files `app` has in `env`, in path order (none for an
    /// unknown app, or an environment the secrets skip).
    pub fn secrets(&self, app: &str, env: &str) -> Vec<Secret> {
        let Some(a) = self.apps.get(app) else { return Vec::new() };
        a.secrets
            .iter()
            .filter_map(|(path, s)| {
                let s = s.get_ref();
                let source = s.from.get(env)?.get_ref().source();
                Some(Secret {
                    path: path.get_ref().clone(),
                    source,
                    mode: s.mode(),
                    owner: s.owner.as_ref().map(|o| o.get_ref().clone()),
                    group: s.group.as_ref().map(|g| g.get_ref().clone()),
                })
            })
            .collect()
    }

    /// Every environment variable some secret is read from: the
    /// processes haul starts (build steps, local hosts) do not see them.
    pub fn secret_env_vars(&self) -> Vec<String> {
        self.apps
            .values()
            .flat_map(|a| a.secrets.values())
            .flat_map(|s| s.get_ref().from.values())
            .filter_map(|src| src.get_ref().env.as_ref().map(|e| e.get_ref().clone()))
            .collect()
    }
}

/// `"0600"`, `"600"`, `"0o640"`: an octal mode within [`MODE_ALLOWED`] that
/// lets its owner read.
fn parse_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let m = u32::from_str_radix(digits, 8).ok()?;
    (m & !MODE_ALLOWED == 0 && m & 0o400 != 0).then_some(m)
}

/// A user or group name, or a number: what `chown` takes, and nothing a
/// shell or `chown` could read as anything else.
fn owner_ok(s: &str) -> bool {
    s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// An environment variable name haul can read.
fn var_ok(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    for t in &c.server.tokens {
        for env in &t.get_ref().secrets {
            match c.environments.get(env.get_ref().as_str()) {
                None => {
                    return Err((
                        env.span(),
                        format!("token `{}`: `secrets`: there is no environment `{}`", t.get_ref().name, env.get_ref()),
                    ));
                }
                Some(e) if e.mode() != Mode::Pull => {
                    return Err((
                        env.span(),
                        format!(
                            "token `{}`: `secrets`: environment `{}` deploys by push, which writes its secret files itself; a token fetches them only for a pull environment's agents",
                            t.get_ref().name,
                            env.get_ref()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for (app_name, app) in &c.apps {
        let app_name = app_name.get_ref();
        let paths: Vec<&Spanned<String>> = app.secrets.keys().collect();
        for (i, p) in paths.iter().enumerate() {
            check_path(p)?;
            let parts = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
            for earlier in &paths[..i] {
                let (a, b) = (parts(earlier.get_ref()), parts(p.get_ref()));
                if b.starts_with(&a) || a.starts_with(&b) {
                    return Err((
                        p.span(),
                        format!(
                            "secret file `{}` and secret file `{}` cannot both exist: one would be a directory holding the other",
                            earlier.get_ref(),
                            p.get_ref()
                        ),
                    ));
                }
            }
            for shared in &app.shared {
                let sh = shared.get_ref();
                let dir = sh.ends_with('/');
                let s = parts(sh.trim_end_matches('/'));
                let me = parts(p.get_ref());
                let clash = (s.len() < me.len() && me.starts_with(&s) && !dir)
                    || (s.len() > me.len() && s.starts_with(&me))
                    || (s == me && dir);
                if clash {
                    return Err((
                        p.span(),
                        format!(
                            "secret file `{}` does not fit shared path `{sh}`: under `shared/` one would have to be a file and a directory at once",
                            p.get_ref()
                        ),
                    ));
                }
            }
        }
        for (path, s) in &app.secrets {
            secret(c, app_name, path, s)?;
        }
    }
    Ok(())
}

/// A secret's path: a plain relative path (the rule of every path haul
/// places), whose names leave room for the temporary file beside it.
fn check_path(p: &Spanned<String>) -> Result<(), Fail> {
    let s = p.get_ref();
    if s.is_empty() || s.starts_with('/') || s.split('/').any(|c| c == ".." || c == ".") {
        return Err((
            p.span(),
            format!(
                "secret file `{}` must be a path inside `shared/`: relative, without `.` or `..`",
                s.escape_debug()
            ),
        ));
    }
    crate::validate::relative_path(p, "secret file", false)?;
    // `.haul-secret.<pid>` is the private directory a write makes beside
    // the file, and `.<name>.haul-secret` the temporary file older hauls
    // used: a secret by either name (or under one) would be removed by
    // another's write.
    if s.split('/').any(|c| c.starts_with(".haul-secret") || (c.starts_with('.') && c.ends_with(".haul-secret"))) {
        return Err((
            p.span(),
            format!("secret file `{}` has the name haul gives its temporary files; choose another", s.escape_debug()),
        ));
    }
    if let Some(long) = p.get_ref().split('/').find(|c| c.len() > 200) {
        return Err((
            p.span(),
            format!("secret file `{}` has a name of {} bytes; at most 200", p.get_ref(), long.len()),
        ));
    }
    Ok(())
}

fn secret(c: &Config, app: &str, path: &Spanned<String>, s: &Spanned<SecretConfig>) -> Result<(), Fail> {
    let sc = s.get_ref();
    let what = format!("secret file `{}` of app `{app}`", path.get_ref());
    if let Some(m) = &sc.mode
        && parse_mode(m.get_ref()).is_none()
    {
        return Err((
            m.span(),
            format!(
                "{what}: `mode` `{}` is not allowed: write it in octal, like \"0600\" or \"0640\"; the owner must be able to read, and no one else but the group may (no execute or special bits)",
                m.get_ref().escape_debug()
            ),
        ));
    }
    for (field, v) in [("owner", &sc.owner), ("group", &sc.group)] {
        if let Some(v) = v
            && !owner_ok(v.get_ref())
        {
            return Err((
                v.span(),
                format!(
                    "{what}: `{field}` `{}` is not a user or group name: letters, digits, `_`, `-` and `.`, starting with a letter, digit or `_`",
                    v.get_ref().escape_debug()
                ),
            ));
        }
    }
    let mut said = BTreeMap::new();
    for env in sc.from.keys().chain(&sc.skip) {
        if !c.environments.contains_key(env.get_ref().as_str()) {
            return Err((env.span(), format!("{what}: there is no environment `{}`", env.get_ref())));
        }
        if said.insert(env.get_ref().as_str(), env).is_some() {
            return Err((
                env.span(),
                format!("{what}: environment `{}` is both in `from` and in `skip`", env.get_ref()),
            ));
        }
    }
    if let Some(env) = c.environments.keys().find(|e| !said.contains_key(e.get_ref().as_str())) {
        return Err((
            s.span(),
            format!(
                "{what} says nothing for environment `{}`: give it a source (`from.{} = {{ file = … }}`, `{{ env = … }}` or `{{ command = [...] }}`) or list it in `skip`",
                env.get_ref(),
                env.get_ref()
            ),
        ));
    }
    for (env, src) in &sc.from {
        source(&format!("{what} in `{}`", env.get_ref()), src)?;
    }
    Ok(())
}

fn source(what: &str, src: &Spanned<SourceConfig>) -> Result<(), Fail> {
    let s = src.get_ref();
    let given = [s.file.is_some(), s.env.is_some(), s.command.is_some()].iter().filter(|g| **g).count();
    if given != 1 {
        return Err((
            src.span(),
            format!("{what}: a source is exactly one of `file`, `env` or `command` (this one has {given})"),
        ));
    }
    if let Some(f) = &s.file
        && (f.get_ref().is_empty() || f.get_ref().contains('\0'))
    {
        return Err((f.span(), format!("{what}: `file` must name a file")));
    }
    if let Some(e) = &s.env
        && !var_ok(e.get_ref())
    {
        return Err((
            e.span(),
            format!(
                "{what}: `{}` is not an environment variable's name (letters, digits and `_`, not starting with a digit)",
                e.get_ref().escape_debug()
            ),
        ));
    }
    if let Some(cmd) = &s.command {
        match cmd.get_ref().first() {
            None => return Err((cmd.span(), format!("{what}: `command` names no program"))),
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err((p.span(), format!("{what}: `command` must start with a program's name")));
            }
            Some(_) => {}
        }
        if let Some(a) = cmd.get_ref().iter().find(|a| a.get_ref().contains('\0')) {
            return Err((a.span(), format!("{what}: a command's argument cannot hold a NUL byte")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_mode;

    #[test]
    fn modes_that_would_show_a_secret_to_others_are_refused() {
        assert_eq!(parse_mode("0600"), Some(0o600));
        assert_eq!(parse_mode("640"), Some(0o640));
        assert_eq!(parse_mode("0o440"), Some(0o440));
        for bad in ["0644", "0700", "4600", "0200", "", "0x600", "06000", "rw", "-600", "0o"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
    }
}

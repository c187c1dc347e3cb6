//! `[[server.tokens]]`: a token's digest and scopes, and the bindings that
//! narrow an `agent` token to the hosts, apps and pull environments it may
//! speak for. Kept in one place so that what the server enforces
//! (`haul_server::auth`) can rely on it: a bound token holds the `agent`
//! scope and nothing else, and binds to names the file knows.

use crate::Mode;
use crate::model::{Config, Token};
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// The scopes a token may hold.
pub const SCOPES: [&str; 6] = ["read", "deploy", "verify", "approve", "agent", "admin"];

impl Token {
    /// Whether the token is bound (to hosts, apps or environments).
    pub fn is_bound(&self) -> bool {
        self.hosts.is_some() || self.apps.is_some() || self.envs.is_some()
    }
}

/// The names of a binding, when it is given.
pub fn names(list: &Option<Spanned<Vec<Spanned<String>>>>) -> Option<Vec<String>> {
    list.as_ref().map(|l| l.get_ref().iter().map(|n| n.get_ref().clone()).collect())
}

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    for t in &c.server.tokens {
        let tok = t.get_ref();
        if tok.sha256.len() != 64 || !tok.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err((
                t.span(),
                format!("token `{}`: `sha256` must be 64 hex digits (the SHA-256 of the secret)", tok.name),
            ));
        }
        if let Some(bad) = tok.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err((
                t.span(),
                format!("token `{}`: unknown scope `{bad}` (scopes: {})", tok.name, SCOPES.join(", ")),
            ));
        }
        bindings(c, tok)?;
    }
    Ok(())
}

/// An agent token's bindings: on a token of the `agent` scope alone, not
/// empty, and naming apps, pull environments and hosts the file knows.
fn bindings(c: &Config, tok: &Token) -> Result<(), Fail> {
    let given = [("hosts", &tok.hosts), ("apps", &tok.apps), ("envs", &tok.envs)];
    for (field, list) in given {
        let Some(list) = list else { continue };
        if let Some(other) = tok.scopes.iter().find(|s| *s != "agent") {
            return Err((
                list.span(),
                format!(
                    "token `{}`: `{field}` binds an `agent` token, but this one also has scope `{other}`, which no binding narrows; give agents a token of their own with `scopes = [\"agent\"]`",
                    tok.name
                ),
            ));
        }
        if tok.scopes.is_empty() {
            return Err((
                list.span(),
                format!("token `{}`: `{field}` binds an `agent` token; add `scopes = [\"agent\"]`", tok.name),
            ));
        }
        if list.get_ref().is_empty() {
            return Err((
                list.span(),
                format!("token `{}`: `{field} = []` allows nothing; leave `{field}` out to allow any", tok.name),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in list.get_ref() {
            if !seen.insert(n.get_ref()) {
                return Err((n.span(), format!("token `{}`: `{field}` lists `{}` twice", tok.name, n.get_ref())));
            }
        }
    }
    for a in tok.apps.iter().flat_map(|l| l.get_ref()) {
        if !c.apps.contains_key(a.get_ref().as_str()) {
            return Err((a.span(), format!("token `{}`: unknown app `{}` in `apps`", tok.name, a.get_ref())));
        }
    }
    for e in tok.envs.iter().flat_map(|l| l.get_ref()) {
        match c.environments.get(e.get_ref().as_str()) {
            None => {
                return Err((
                    e.span(),
                    format!("token `{}`: unknown environment `{}` in `envs`", tok.name, e.get_ref()),
                ));
            }
            Some(env) if env.mode() != Mode::Pull => {
                return Err((
                    e.span(),
                    format!(
                        "token `{}`: environment `{}` deploys by push; an agent token binds only to pull environments",
                        tok.name,
                        e.get_ref()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    // The pull environments the token may report to; a host none of them
    // could take a report from is a typo.
    let pull: Vec<_> = c
        .environments
        .iter()
        .filter(|(n, e)| {
            e.mode() == Mode::Pull
                && tok.envs.as_ref().is_none_or(|l| l.get_ref().iter().any(|b| b.get_ref() == n.get_ref()))
        })
        .map(|(_, e)| e)
        .collect();
    for h in tok.hosts.iter().flat_map(|l| l.get_ref()) {
        crate::validate::check_name("agent", h)?;
        let open = pull.iter().any(|e| e.hosts.is_empty());
        if !open && !pull.iter().any(|e| e.hosts.iter().any(|l| l.get_ref() == h.get_ref())) {
            return Err((
                h.span(),
                format!(
                    "token `{}`: host `{}` is not a host of any pull environment this token may report to",
                    tok.name,
                    h.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

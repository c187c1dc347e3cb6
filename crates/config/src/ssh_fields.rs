//! The fields of `haul.toml` that haul hands to OpenSSH.
//!
//! An address, user, jump hop or `[ssh] config` path ends up in an ssh
//! command line or in the `ssh_config` haul writes for a run. A line break
//! there would start a new ssh option (a `ProxyCommand` runs a command), a
//! space would split the value, and a leading `-` would be read as an
//! option: such values are refused here, with the field and its place in
//! the file. (The SSH transport refuses them again before writing.)

use crate::model::*;
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// Checks every SSH field of every host and of `[ssh]`.
pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    if let Some(p) = &c.ssh.config
        && let Some(why) = path_problem(p.get_ref())
    {
        return Err((p.span(), format!("`[ssh] config` {} cannot be handed to ssh: {why}", shown(p.get_ref()))));
    }
    for (name, host) in &c.hosts {
        let name = name.get_ref();
        for (field, value) in [("address", &host.address), ("user", &host.user)] {
            if let Some(v) = value {
                one_word(name, field, v)?;
            }
        }
        if let Some(j) = &host.jump {
            for hop in &j.get_ref().0 {
                // A hop that is no `[hosts]` entry is `[user@]address[:port]`:
                // each part goes to ssh on its own.
                let d = c.jump_destination(hop);
                let parts = [Some(hop.as_str()), Some(d.address.as_str()), d.user.as_deref()];
                if let Some(why) = parts.into_iter().flatten().find_map(word_problem) {
                    return Err((
                        j.span(),
                        format!("host `{name}`: jump hop {} cannot be handed to ssh: {why}", shown(hop)),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn one_word(host: &str, field: &str, v: &Spanned<String>) -> Result<(), Fail> {
    match word_problem(v.get_ref()) {
        None => Ok(()),
        Some(why) => {
            Err((v.span(), format!("host `{host}`: `{field}` {} cannot be handed to ssh: {why}", shown(v.get_ref()))))
        }
    }
}

/// The value quoted, with line breaks and control characters escaped so the
/// message stays on one line.
fn shown(v: &str) -> String {
    format!("\"{}\"", v.escape_debug())
}

/// Why `v` cannot be one word on an ssh command line or config line.
fn word_problem(v: &str) -> Option<String> {
    if v.is_empty() {
        return Some("it is empty".into());
    }
    if v.starts_with('-') {
        return Some("it starts with `-`, which ssh would read as an option".into());
    }
    v.chars().find_map(|c| char_problem(c, true))
}

/// Why `p` cannot be a path in an ssh_config line (spaces are quoted).
fn path_problem(p: &str) -> Option<String> {
    if p.trim().is_empty() {
        return Some("it is empty".into());
    }
    p.chars().find_map(|c| char_problem(c, false))
}

/// Why `c` cannot appear in a value that reaches ssh (a space allowed or
/// not): the one rule, used here and again by the transport before it
/// writes anything for ssh.
pub fn char_problem(c: char, refuse_space: bool) -> Option<String> {
    match c {
        '\n' | '\r' => Some("it contains a line break".into()),
        '\t' => Some("it contains a tab".into()),
        c if c.is_control() => Some(format!("it contains a control character (U+{:04X})", c as u32)),
        c if c.is_whitespace() && refuse_space => Some("it contains whitespace".into()),
        '"' | '\'' | '`' | '\\' => Some(format!("it contains a quote or backslash (`{c}`)")),
        _ => None,
    }
}

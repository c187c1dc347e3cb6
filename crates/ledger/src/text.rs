//! The one rule for text the ledger records.
//!
//! PostgreSQL refuses a NUL byte in text while SQLite stores it, and control
//! characters in a name end up in terminals, logs and the dashboard. So
//! every text field is checked before it reaches either database, the same
//! way on both: the server checks request bodies, paths and queries with
//! it (a 422 naming the field), and the ledger checks every write with it
//! too, so a CLI writing to the database directly meets the same rule.
//!
//! Two kinds of text: a *line* (names, ids, digests, links, actors) has no
//! control character at all; a *block* (a reason, a comment, a message, a
//! host's error) may also hold tabs and line breaks. Both are bounded.

use crate::{HostResult, LedgerError, NewDeployment, NewRelease, NewVerification};

/// The longest line, in characters.
pub const MAX_LINE: usize = 2048;
/// The longest block, in characters.
pub const MAX_BLOCK: usize = 16 * 1024;

/// What a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line, no control characters.
    Line,
    /// Several lines: tabs, `\n` and `\r` allowed.
    Block,
}

impl Kind {
    /// The kind of a field by its name: reasons, comments, messages and
    /// errors are blocks, everything else a line.
    pub fn of(field: &str) -> Kind {
        match field.rsplit('.').next().unwrap_or(field) {
            "reason" | "comment" | "message" | "error" | "output" => Kind::Block,
            _ => Kind::Line,
        }
    }

    fn max(self) -> usize {
        match self {
            Kind::Line => MAX_LINE,
            Kind::Block => MAX_BLOCK,
        }
    }

    fn allows(self, c: char) -> bool {
        !c.is_control() || (self == Kind::Block && matches!(c, '\t' | '\n' | '\r'))
    }
}

/// Why `value` may not be stored as `kind`, if it may not.
pub fn problem(value: &str, kind: Kind) -> Option<String> {
    if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| !kind.allows(*c)) {
        let what =
            if c == '\0' { "a NUL byte".to_string() } else { format!("the control character U+{:04X}", c as u32) };
        return Some(format!("holds {what} at character {}", at + 1));
    }
    let len = value.chars().count();
    (len > kind.max()).then(|| format!("is {len} characters long; at most {} are kept", kind.max()))
}

/// Checks one field, naming it in the error.
pub fn check(field: &str, value: &str, kind: Kind) -> Result<(), LedgerError> {
    match problem(value, kind) {
        Some(why) => Err(LedgerError::Invalid { field: field.to_string(), message: format!("`{field}` {why}") }),
        None => Ok(()),
    }
}

/// Text made storable: characters the kind refuses become U+FFFD and it is
/// cut to the bound. For output haul captured itself (a host's error, a
/// run's message), where refusing would lose the record.
pub fn clean(value: &str, kind: Kind) -> String {
    let mut s: String = value.chars().map(|c| if kind.allows(c) { c } else { '\u{FFFD}' }).collect();
    if let Some((cut, _)) = s.char_indices().nth(kind.max()) {
        s.truncate(cut);
    }
    s
}

fn line(field: &str, value: &str) -> Result<(), LedgerError> {
    check(field, value, Kind::Line)
}

fn opt(field: &str, value: Option<&str>, kind: Kind) -> Result<(), LedgerError> {
    value.map_or(Ok(()), |v| check(field, v, kind))
}

pub(crate) fn release(r: &NewRelease, actor: &str) -> Result<(), LedgerError> {
    // The id is a checked `ReleaseId` and `created` a time: neither can
    // break the rule.
    for (f, v) in [("app", &r.app), ("digest", &r.digest), ("built_by", &r.built_by)] {
        line(f, v)?;
    }
    opt("revision", r.revision.as_deref(), Kind::Line)?;
    line("actor", actor)
}

pub(crate) fn deployment(d: &NewDeployment) -> Result<(), LedgerError> {
    for (f, v) in [("app", &d.app), ("env", &d.env), ("actor", &d.actor)] {
        line(f, v)?;
    }
    line("config_digest", &d.config_digest)?;
    opt("reason", d.reason.as_deref(), Kind::Block)
}

pub(crate) fn host(field: &str, h: &HostResult) -> Result<(), LedgerError> {
    // Its phase and status are words of closed vocabularies.
    line(&format!("{field}host"), &h.host)?;
    opt(&format!("{field}error"), h.error.as_deref(), Kind::Block)
}

pub(crate) fn finish(message: Option<&str>, hosts: &[HostResult], actor: &str) -> Result<(), LedgerError> {
    opt("message", message, Kind::Block)?;
    for (i, h) in hosts.iter().enumerate() {
        host(&format!("hosts[{i}]."), h)?;
    }
    line("actor", actor)
}

pub(crate) fn verification(v: &NewVerification) -> Result<(), LedgerError> {
    line("name", &v.name)?;
    opt("link", v.link.as_deref(), Kind::Line)?;
    line("reporter", &v.reporter)
}

pub(crate) fn fields(lines: &[(&str, &str)], blocks: &[(&str, Option<&str>)]) -> Result<(), LedgerError> {
    for (f, v) in lines {
        line(f, v)?;
    }
    for (f, v) in blocks {
        opt(f, *v, Kind::Block)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_controls_are_refused_naming_the_field() {
        let e = check("name", "smo\0ke", Kind::Line).unwrap_err().to_string();
        assert_eq!(e, "`name` holds a NUL byte at character 4");
        assert!(check("reason", "two\nlines\tand tabs", Kind::Block).is_ok());
        assert!(check("name", "two\nlines", Kind::Line).is_err());
        assert!(check("reason", "esc \x1b[31m", Kind::Block).unwrap_err().to_string().contains("U+001B"));
        assert!(check("reason", "bell \u{7f}", Kind::Block).is_err());
        assert!(check("name", &"x".repeat(MAX_LINE + 1), Kind::Line).unwrap_err().to_string().contains("at most"));
        assert!(check("name", "naïve ✓", Kind::Line).is_ok());
    }

    #[test]
    fn cleaning_keeps_what_it_can() {
        assert_eq!(clean("a\0b\x1b[0m\nc", Kind::Block), "a\u{FFFD}b\u{FFFD}[0m\nc");
        assert_eq!(clean(&"é".repeat(MAX_BLOCK + 5), Kind::Block).chars().count(), MAX_BLOCK);
        assert_eq!(Kind::of("hosts[2].error"), Kind::Block);
        assert_eq!(Kind::of("name"), Kind::Line);
    }
}

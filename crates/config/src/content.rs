//! Content sets: what `haul content sync` copies between environments.
//!
//! Code moves by promotion; content (a database, uploads) moves by sync,
//! from the environment an environment's `content` names. A set is either
//! `commands` (an `export` on one host of the source streams through local
//! `transform`s into an `import` on one host of the target, with an
//! optional `snapshot`/`restore` pair on the target) or `files`
//! (directories under `shared/`, staged and switched on the target). Kept
//! apart from the push model so each kind's checks name the other kind's
//! fields as out of place, and so the rule for which environments are
//! protected has one home.

use crate::model::{App, Config, Environment};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// What a content set copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    /// A command's output streamed into another command.
    Commands,
    /// Directories under `shared/`.
    Files,
}

/// Which hosts of the target a `files` set is written to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilesTo {
    /// Every host of the target (each has its own `shared/`).
    #[default]
    Every,
    /// One host (the first with `role`): the hosts share storage.
    One,
}

/// `[apps.<app>.content.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSet {
    pub kind: Spanned<ContentKind>,
    /// The role whose first host runs the export (in the source) and the
    /// import (in the target), or is read from for `files`; default: the
    /// environment's first host.
    pub role: Option<Spanned<String>>,
    /// Commands: run on the source host; its stdout is the stream.
    pub export: Option<Spanned<String>>,
    /// Commands: run on this machine, in order, the stream passing
    /// through each (stdin to stdout), in the config file's directory.
    #[serde(default)]
    pub transform: Vec<Spanned<String>>,
    /// Commands: run on the target host; the stream is its stdin.
    pub import: Option<Spanned<String>>,
    /// Commands: run on the target host before the import.
    pub snapshot: Option<Spanned<String>>,
    /// Commands: run on the target host when the import failed.
    pub restore: Option<Spanned<String>>,
    /// Files: directories listed in the app's `shared` (with their `/`).
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    /// Files: `every` host of the target (default) or `one`.
    pub to: Option<Spanned<FilesTo>>,
    /// What a sync into an environment takes instead of the whole set
    /// (see `crate::subset`), by environment.
    #[serde(default)]
    pub subset: std::collections::BTreeMap<Spanned<String>, Spanned<crate::Subset>>,
}

impl ContentSet {
    pub fn kind(&self) -> ContentKind {
        *self.kind.get_ref()
    }

    /// Which hosts of the target a files set goes to.
    pub fn files_to(&self) -> FilesTo {
        self.to.as_ref().map(|t| *t.get_ref()).unwrap_or_default()
    }

    pub fn role(&self) -> Option<&str> {
        self.role.as_ref().map(|r| r.get_ref().as_str())
    }
}

impl Environment {
    /// Whether content may be synced into this environment only with
    /// `--force --reason`: as `protected` says, else when it is the
    /// canonical source of its content (nothing is copied over it by
    /// default).
    pub fn protected(&self) -> bool {
        self.protected.as_ref().map(|p| *p.get_ref()).unwrap_or(self.content.get_ref() == "canonical")
    }
}

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    let roles: BTreeSet<&str> = c.hosts.values().flat_map(|h| h.roles.iter().map(String::as_str)).collect();
    for (app_name, app) in &c.apps {
        for (name, set) in &app.content {
            crate::validate::check_name("content set", name)?;
            check_set(app, app_name.get_ref(), name.get_ref(), set, &roles)?;
            let what = format!("content set `{}` of app `{}`", name.get_ref(), app_name.get_ref());
            crate::subset::validate(c, &what, set.get_ref())?;
        }
    }
    Ok(())
}

fn check_set(
    app: &App,
    app_name: &str,
    name: &str,
    set: &Spanned<ContentSet>,
    roles: &BTreeSet<&str>,
) -> Result<(), Fail> {
    let s = set.get_ref();
    let what = format!("content set `{name}` of app `{app_name}`");
    if let Some(r) = &s.role
        && !roles.contains(r.get_ref().as_str())
    {
        return Err((r.span(), format!("{what} names role `{}`, which no host has", r.get_ref())));
    }
    let blank = |f: &Spanned<String>, field: &str| -> Result<(), Fail> {
        if f.get_ref().trim().is_empty() { Err((f.span(), format!("{what}: `{field}` is empty"))) } else { Ok(()) }
    };
    match s.kind() {
        ContentKind::Commands => {
            if let Some(p) = s.paths.first() {
                return Err((p.span(), format!("{what}: `paths` belongs to a `files` set; this one is `commands`")));
            }
            if let Some(t) = &s.to {
                return Err((t.span(), format!("{what}: `to` belongs to a `files` set; this one is `commands`")));
            }
            for field in ["export", "import"] {
                let v = if field == "export" { &s.export } else { &s.import };
                match v {
                    None => return Err((set.span(), format!("{what} needs `{field}` (a command)"))),
                    Some(v) => blank(v, field)?,
                }
            }
            for t in &s.transform {
                blank(t, "transform")?;
            }
            match (&s.snapshot, &s.restore) {
                (Some(snap), None) => {
                    return Err((
                        snap.span(),
                        format!("{what}: a `snapshot` needs a `restore` to undo a failed import"),
                    ));
                }
                (None, Some(r)) => {
                    return Err((r.span(), format!("{what}: a `restore` needs a `snapshot` to restore from")));
                }
                (Some(a), Some(b)) => {
                    blank(a, "snapshot")?;
                    blank(b, "restore")?;
                }
                (None, None) => {}
            }
        }
        ContentKind::Files => {
            for (field, v) in
                [("export", &s.export), ("import", &s.import), ("snapshot", &s.snapshot), ("restore", &s.restore)]
            {
                if let Some(v) = v {
                    return Err((
                        v.span(),
                        format!("{what}: `{field}` belongs to a `commands` set; this one is `files`"),
                    ));
                }
            }
            if let Some(t) = s.transform.first() {
                return Err((
                    t.span(),
                    format!("{what}: `transform` belongs to a `commands` set; this one is `files`"),
                ));
            }
            if s.paths.is_empty() {
                return Err((set.span(), format!("{what} needs `paths` (directories of the app's `shared`)")));
            }
            let mut seen = BTreeSet::new();
            for p in &s.paths {
                crate::validate::relative_path(p, "content path", true)?;
                let dir = p.get_ref().trim_end_matches('/');
                if !app.shared.iter().any(|sh| sh.get_ref().ends_with('/') && sh.get_ref().trim_end_matches('/') == dir)
                {
                    return Err((
                        p.span(),
                        format!(
                            "{what}: `{dir}/` is not a shared directory of the app (list it in `shared` as `{dir}/`)"
                        ),
                    ));
                }
                if dir.split('/').next() == Some(".haul-content") {
                    return Err((
                        p.span(),
                        format!("{what}: `{dir}/` is under `shared/.haul-content/`, where haul stages content syncs"),
                    ));
                }
                if !seen.insert(dir) {
                    return Err((p.span(), format!("{what}: `{dir}/` is listed twice")));
                }
            }
        }
    }
    Ok(())
}

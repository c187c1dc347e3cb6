//! Truck's "content is canonical, or a subset of production": a content
//! set may state, per target environment, that it takes only a subset, and
//! how: another `export` (a `pg_dump --table …`, a `WHERE` in a `COPY`),
//! extra `transform`s after the set's own (a filter the stream passes
//! through here), or, for a `files` set, only some of its `paths`. The
//! `description` says in words what the subset is, for the sync's output,
//! the pipeline and the ledger's record, so nobody mistakes a copy of 90
//! days of orders for the whole database.

use crate::content::{ContentKind, ContentSet};
use crate::model::Config;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

/// `[apps.<app>.content.<set>.subset.<env>]`: what a sync into `<env>`
/// takes instead of the whole set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subset {
    /// What the subset is, in words ("orders of the last 90 days").
    pub description: Spanned<String>,
    /// Commands: run on the source host instead of the set's `export`.
    pub export: Option<Spanned<String>>,
    /// Commands: run here after the set's own transforms.
    #[serde(default)]
    pub transform: Vec<Spanned<String>>,
    /// Files: only these of the set's `paths`.
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
}

/// What a sync of one set into one environment runs: the set, with the
/// subset stated for that environment applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Commands: the export that runs.
    pub export: Option<String>,
    /// Commands: every transform, the set's then the subset's.
    pub transform: Vec<String>,
    /// Files: the directories copied, without their `/`.
    pub paths: Vec<String>,
    /// The subset's description, when one applies.
    pub subset: Option<String>,
}

impl ContentSet {
    /// What a sync of this set into `env` runs.
    pub fn into_env(&self, env: &str) -> Effective {
        let sub = self.subset.get(env).map(Spanned::get_ref);
        let export = sub.and_then(|s| s.export.as_ref()).or(self.export.as_ref()).map(|e| e.get_ref().clone());
        let mut transform: Vec<String> = self.transform.iter().map(|t| t.get_ref().clone()).collect();
        transform.extend(sub.into_iter().flat_map(|s| s.transform.iter().map(|t| t.get_ref().clone())));
        let all = || self.paths.iter().map(|p| p.get_ref().trim_end_matches('/').to_string()).collect();
        let paths = match sub {
            Some(s) if !s.paths.is_empty() => {
                s.paths.iter().map(|p| p.get_ref().trim_end_matches('/').to_string()).collect()
            }
            _ => all(),
        };
        Effective { export, transform, paths, subset: sub.map(|s| s.description.get_ref().clone()) }
    }
}

pub(crate) fn validate(c: &Config, what: &str, set: &ContentSet) -> Result<(), Fail> {
    for (env, sub) in &set.subset {
        let s = sub.get_ref();
        if !c.environments.contains_key(env.get_ref().as_str()) {
            return Err((env.span(), format!("{what}: `subset.{}` names no environment", env.get_ref())));
        }
        if s.description.get_ref().trim().is_empty() {
            return Err((s.description.span(), format!("{what}: a subset's `description` says what it takes")));
        }
        let misplaced = |field: &str, span: Range<usize>, kind: &str| {
            Err((span, format!("{what}: a subset's `{field}` belongs to a `{kind}` set")))
        };
        match set.kind() {
            ContentKind::Commands => {
                if let Some(p) = s.paths.first() {
                    return misplaced("paths", p.span(), "files");
                }
                if s.export.is_none() && s.transform.is_empty() {
                    return Err((
                        sub.span(),
                        format!(
                            "{what}: subset `{}` changes nothing: give an `export` or a `transform`",
                            env.get_ref()
                        ),
                    ));
                }
                for f in s.export.iter().chain(&s.transform) {
                    if f.get_ref().trim().is_empty() {
                        return Err((f.span(), format!("{what}: a subset's command is empty")));
                    }
                }
            }
            ContentKind::Files => {
                if let Some(e) = &s.export {
                    return misplaced("export", e.span(), "commands");
                }
                if let Some(t) = s.transform.first() {
                    return misplaced("transform", t.span(), "commands");
                }
                if s.paths.is_empty() {
                    return Err((sub.span(), format!("{what}: subset `{}` needs `paths`", env.get_ref())));
                }
                let own: Vec<&str> = set.paths.iter().map(|p| p.get_ref().trim_end_matches('/')).collect();
                for p in &s.paths {
                    if !own.contains(&p.get_ref().trim_end_matches('/')) {
                        return Err((
                            p.span(),
                            format!("{what}: subset path `{}` is not one of the set's `paths`", p.get_ref()),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

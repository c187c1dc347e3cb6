//! Which syncs are allowed: the one home of the direction and protection
//! rules, judged before any host is touched.

use crate::ContentError;
use haul_config::{Config, ContentSet};

/// What `haul content sync` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub app: String,
    pub to: String,
    /// Default: the target's `content`.
    pub from: Option<String>,
    /// Only this set (default: every set of the app).
    pub only: Option<String>,
    /// Allow a source that is not upstream of the target's content.
    pub reverse: bool,
    /// Allow a protected target (needs `reason`).
    pub force: bool,
    pub reason: Option<String>,
}

/// An allowed sync: its source and the sets it copies, in name order.
#[derive(Debug)]
pub struct SyncPlan<'c> {
    pub app: String,
    pub from: String,
    pub to: String,
    pub sets: Vec<(String, &'c ContentSet)>,
    /// Why a protected target was forced, when it was.
    pub forced: Option<String>,
}

impl Request {
    /// Judges the request against `config`.
    pub fn plan<'c>(&self, config: &'c Config) -> Result<SyncPlan<'c>, ContentError> {
        let app = config.app(&self.app)?;
        let target = config.env(&self.to)?;
        let from = match &self.from {
            Some(f) => {
                config.env(f)?;
                f.clone()
            }
            None if target.content.get_ref() == "canonical" => {
                return Err(ContentError::Refused(format!(
                    "environment `{}` is canonical for its content: it takes it from nowhere (name a source with --from)",
                    self.to
                )));
            }
            None => target.content.get_ref().clone(),
        };
        if from == self.to {
            return Err(ContentError::Refused(format!("cannot sync environment `{from}` into itself")));
        }
        let upstream = upstream_of(config, &self.to);
        if !upstream.contains(&from) && !self.reverse {
            let chain = if upstream.is_empty() { "none".to_string() } else { upstream.join(" ← ") };
            return Err(ContentError::Refused(format!(
                "`{from}` is not where `{to}` takes its content from (its sources: {chain}); content flows from an environment's source only: pass --reverse to copy `{from}` into `{to}` all the same",
                to = self.to
            )));
        }
        let reason = self.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let forced = if target.protected() {
            match (self.force, reason) {
                (true, Some(r)) => Some(r.to_string()),
                _ => {
                    return Err(ContentError::Refused(format!(
                        "environment `{}` is protected: content is synced into it only with --force --reason \"…\" (the reason is recorded)",
                        self.to
                    )));
                }
            }
        } else {
            None
        };
        let mut sets: Vec<(String, &ContentSet)> =
            app.content.iter().map(|(n, s)| (n.get_ref().clone(), s.get_ref())).collect();
        if sets.is_empty() {
            return Err(ContentError::Refused(format!(
                "app `{}` has no content sets (declare them under [apps.{}.content.<name>])",
                self.app, self.app
            )));
        }
        if let Some(only) = &self.only {
            let names: Vec<String> = sets.iter().map(|(n, _)| n.clone()).collect();
            sets.retain(|(n, _)| n == only);
            if sets.is_empty() {
                return Err(ContentError::Refused(format!(
                    "app `{}` has no content set `{only}` (sets: {})",
                    self.app,
                    names.join(", ")
                )));
            }
        }
        Ok(SyncPlan { app: self.app.clone(), from, to: self.to.clone(), sets, forced })
    }
}

/// The environments `env` takes its content from, nearest first (the
/// config refuses cycles, so this ends).
fn upstream_of(config: &Config, env: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = env.to_string();
    while let Some(e) = config.environments.get(at.as_str()) {
        let next = e.content.get_ref();
        if next == "canonical" || out.contains(next) {
            break;
        }
        out.push(next.clone());
        at = next.clone();
    }
    out
}

//! Which releases may enter an environment, and why the others may not.
//!
//! A candidate is a release that succeeded in the upstream environment. It
//! qualifies when its upstream deployment's required verifications passed
//! (the newest report of each name), it has soaked long enough since that
//! deployment finished, enough people approved it for the target, and it is
//! not quarantined. Every unmet requirement is listed, so a refusal explains
//! itself.

use crate::time::{age, text as stamp};
use crate::{Deployment, DeploymentStatus, Ledger, ReleaseId, Result, VerificationResult};
use serde::Serialize;

/// What a target environment requires of a release.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    pub verifications: Vec<String>,
    pub soak: Option<std::time::Duration>,
    pub approvals: u32,
}

/// A release that could be promoted, with what stands in its way.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub release: ReleaseId,
    /// Its newest successful deployment upstream.
    pub deployment: i64,
    pub unmet: Vec<String>,
}

/// One requirement judged for one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    pub met: bool,
    /// What was found, in the words a refusal uses when unmet.
    pub detail: String,
}

/// Which requirement a [`Check`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Not quarantined; only listed when it is.
    Quarantine,
    /// This named verification passed upstream.
    Verification(String),
    Soak,
    Approvals,
}

/// A candidate release with every requirement judged, met or not.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub release: ReleaseId,
    /// Its newest successful deployment upstream.
    pub deployment: i64,
    /// When that deployment finished (soak counts from there).
    #[serde(with = "crate::time::fixed_opt")]
    pub finished: Option<jiff::Timestamp>,
    pub checks: Vec<Check>,
}

impl Assessment {
    pub fn qualifies(&self) -> bool {
        self.checks.iter().all(|c| c.met)
    }
}

/// Picks what to promote into `target` from `upstream`'s candidates
/// (newest first): `release` if given, else the newest that qualifies. A
/// refusal says why, listing every unmet requirement of every candidate
/// left, which come back with it.
pub fn choose(
    mut candidates: Vec<Candidate>,
    release: Option<&str>,
    app: &str,
    upstream: &str,
    target: &str,
) -> std::result::Result<Candidate, (String, Vec<Candidate>)> {
    if let Some(id) = release {
        candidates.retain(|c| c.release == id);
        if candidates.is_empty() {
            let msg =
                format!("release {id} of {app} never succeeded in {upstream}, where {target} takes its code from");
            return Err((msg, candidates));
        }
    }
    if let Some(c) = candidates.iter().find(|c| c.qualifies()) {
        return Ok(c.clone());
    }
    if candidates.is_empty() {
        return Err((format!("nothing to promote: no release of {app} has succeeded in {upstream}"), candidates));
    }
    let mut msg = format!("no release of {app} in {upstream} may enter {target} yet:");
    for c in &candidates {
        msg.push_str(&format!("\n  {} (deployment {}):", c.release, c.deployment));
        for u in &c.unmet {
            msg.push_str(&format!("\n    - {u}"));
        }
    }
    Err((msg, candidates))
}

impl Candidate {
    pub fn qualifies(&self) -> bool {
        self.unmet.is_empty()
    }
}

impl Ledger {
    /// Releases that succeeded in `upstream`, newest first, judged against
    /// what `target` requires.
    pub async fn candidates(
        &self,
        app: &str,
        upstream: &str,
        target: &str,
        req: &Requirements,
    ) -> Result<Vec<Candidate>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for d in self.deployments(Some(app), Some(upstream), 200).await? {
            if d.status != DeploymentStatus::Succeeded || !seen.insert(d.release.clone()) {
                continue;
            }
            let unmet = self.unmet(&d, target, req).await?;
            out.push(Candidate { release: d.release.clone(), deployment: d.id, unmet });
        }
        Ok(out)
    }

    /// Every candidate with each requirement of `target` judged one by one,
    /// met or not, for a page that shows all of them.
    pub async fn assess(&self, app: &str, upstream: &str, target: &str, req: &Requirements) -> Result<Vec<Assessment>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for d in self.deployments(Some(app), Some(upstream), 200).await? {
            if d.status != DeploymentStatus::Succeeded || !seen.insert(d.release.clone()) {
                continue;
            }
            let checks = self.checks(&d, target, req).await?;
            out.push(Assessment { release: d.release.clone(), deployment: d.id, finished: d.finished, checks });
        }
        Ok(out)
    }

    async fn unmet(&self, d: &Deployment, target: &str, req: &Requirements) -> Result<Vec<String>> {
        let checks = self.checks(d, target, req).await?;
        Ok(checks.into_iter().filter(|c| !c.met).map(|c| c.detail).collect())
    }

    /// Each requirement of `target` judged against deployment `d`; the
    /// quarantine check first, and only when the release is quarantined.
    async fn checks(&self, d: &Deployment, target: &str, req: &Requirements) -> Result<Vec<Check>> {
        let mut checks = Vec::new();
        if let Some(q) = self.quarantined(&d.app, &d.release).await? {
            checks.push(Check { kind: CheckKind::Quarantine, met: false, detail: crate::gate::quarantined(&q) });
        }
        let found = self.verifications(d.id).await?;
        for name in &req.verifications {
            let (met, detail) = match found.iter().find(|v| &v.name == name) {
                None => (false, format!("verification `{name}` has not been reported on deployment {}", d.id)),
                Some(v) if v.result != VerificationResult::Pass => (
                    false,
                    format!(
                        "verification `{name}` is {} on deployment {} (reported by {} at {})",
                        v.result.as_str(),
                        d.id,
                        v.reporter,
                        stamp(v.at)
                    ),
                ),
                Some(v) => (
                    true,
                    format!(
                        "verification `{name}` passed on deployment {} (reported by {} at {})",
                        d.id,
                        v.reporter,
                        stamp(v.at)
                    ),
                ),
            };
            checks.push(Check { kind: CheckKind::Verification(name.clone()), met, detail });
        }
        if let Some(soak) = req.soak {
            let ran = d.finished.map(age).unwrap_or_default();
            let met = ran >= soak;
            let detail = if met {
                format!(
                    "it has soaked {}s, at least the {}s required since deployment {} finished",
                    ran.as_secs(),
                    soak.as_secs(),
                    d.id
                )
            } else {
                format!(
                    "it has soaked {}s of the {}s required since deployment {} finished",
                    ran.as_secs(),
                    soak.as_secs(),
                    d.id
                )
            };
            checks.push(Check { kind: CheckKind::Soak, met, detail });
        }
        if req.approvals > 0 {
            let approvals = self.approvals(&d.app, &d.release, target).await?;
            let detail = format!(
                "{} of {} approvals for {target}{}",
                approvals.len(),
                req.approvals,
                if approvals.is_empty() { String::new() } else { format!(" (by {})", approvals.join(", ")) }
            );
            checks.push(Check { kind: CheckKind::Approvals, met: approvals.len() as u32 >= req.approvals, detail });
        }
        Ok(checks)
    }

    /// Who approved `release` for `env`.
    pub async fn approvals(&self, app: &str, release: &str, env: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT actor FROM approvals WHERE app = $1 AND release = $2 AND env = $3 ORDER BY id")
            .bind(app)
            .bind(release)
            .bind(env)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The newest release `env` ran successfully whose verifications all
    /// passed (at least one was reported) and that is not quarantined: where
    /// a failed deploy goes back to.
    pub async fn last_verified(&self, app: &str, env: &str) -> Result<Option<ReleaseId>> {
        for d in self.deployments(Some(app), Some(env), 200).await? {
            if !matches!(d.status, DeploymentStatus::Succeeded | DeploymentStatus::Undone) {
                continue;
            }
            let v = self.verifications(d.id).await?;
            if !v.is_empty()
                && v.iter().all(|v| v.result == VerificationResult::Pass)
                && self.quarantined(app, &d.release).await?.is_none()
            {
                return Ok(Some(d.release));
            }
        }
        Ok(None)
    }
}

//! The ledger's model as the HTTP API carries it (`haul_api::records`), both
//! ways, in one place: the server answers with these conversions and the
//! client reads its answers back through them, so the two sides cannot
//! disagree on a field. Times travel in the ledger's text form
//! ([`crate::time::text`]); one that does not read back is an error.

use crate::{AuditReport, Candidate, Deployment, HostResult, Verification};
use haul_api::records as api;

fn stamp(s: &str) -> Result<jiff::Timestamp, BadTime> {
    s.parse().map_err(|e: jiff::Error| BadTime(format!("{s:?} is not a time: {e}")))
}

/// A time in an API record that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTime(String);

impl From<Deployment> for api::Deployment {
    fn from(d: Deployment) -> api::Deployment {
        api::Deployment {
            id: d.id,
            app: d.app,
            env: d.env,
            release: d.release,
            trigger: d.trigger,
            actor: d.actor,
            reason: d.reason,
            config_digest: d.config_digest,
            status: d.status,
            undoes: d.undoes,
            message: d.message,
            started: crate::time::text(d.started),
            finished: d.finished.map(crate::time::text),
            forced: d.forced,
            runner: d.runner,
            lease_until: d.lease_until.map(crate::time::text),
        }
    }
}

impl TryFrom<api::Deployment> for Deployment {
    type Error = BadTime;
    fn try_from(d: api::Deployment) -> Result<Deployment, BadTime> {
        Ok(Deployment {
            id: d.id,
            app: d.app,
            env: d.env,
            release: d.release,
            trigger: d.trigger,
            actor: d.actor,
            reason: d.reason,
            config_digest: d.config_digest,
            status: d.status,
            undoes: d.undoes,
            message: d.message,
            started: stamp(&d.started)?,
            finished: d.finished.as_deref().map(stamp).transpose()?,
            forced: d.forced,
            runner: d.runner,
            lease_until: d.lease_until.as_deref().map(stamp).transpose()?,
        })
    }
}

impl From<HostResult> for api::HostResult {
    fn from(h: HostResult) -> api::HostResult {
        api::HostResult { host: h.host, phase: h.phase, status: h.status, error: h.error, elapsed_ms: h.elapsed_ms }
    }
}

impl From<api::HostResult> for HostResult {
    fn from(h: api::HostResult) -> HostResult {
        HostResult { host: h.host, phase: h.phase, status: h.status, error: h.error, elapsed_ms: h.elapsed_ms }
    }
}

impl HostResult {
    /// A host result haul made from what it captured (an agent's report):
    /// its error cleaned to what the ledger stores ([`crate::text::clean`])
    /// instead of refused, so a hostile or garbled error cannot lose the
    /// record.
    pub fn captured(h: api::HostResult) -> HostResult {
        let mut h = HostResult::from(h);
        h.error = h.error.map(|e| crate::text::clean(&e, crate::text::Kind::Block));
        h
    }
}

impl From<Verification> for api::Verification {
    fn from(v: Verification) -> api::Verification {
        api::Verification {
            id: v.id,
            deployment: v.deployment,
            name: v.name,
            result: v.result,
            link: v.link,
            reporter: v.reporter,
            at: crate::time::text(v.at),
        }
    }
}

impl TryFrom<api::Verification> for Verification {
    type Error = BadTime;
    fn try_from(v: api::Verification) -> Result<Verification, BadTime> {
        Ok(Verification {
            id: v.id,
            deployment: v.deployment,
            name: v.name,
            result: v.result,
            link: v.link,
            reporter: v.reporter,
            at: stamp(&v.at)?,
        })
    }
}

impl From<Candidate> for api::Candidate {
    fn from(c: Candidate) -> api::Candidate {
        api::Candidate { release: c.release, deployment: c.deployment, unmet: c.unmet }
    }
}

impl From<api::Candidate> for Candidate {
    fn from(c: api::Candidate) -> Candidate {
        Candidate { release: c.release, deployment: c.deployment, unmet: c.unmet }
    }
}

impl From<AuditReport> for api::AuditReport {
    fn from(r: AuditReport) -> api::AuditReport {
        api::AuditReport { entries: r.entries, broken: r.broken }
    }
}

impl From<api::AuditReport> for AuditReport {
    fn from(r: api::AuditReport) -> AuditReport {
        AuditReport { entries: r.entries, broken: r.broken }
    }
}

//! The boundary between the ledger's model and the API's types (`haul_api`):
//! records read from the ledger become the shapes the API answers with, and
//! requests become the ledger's inputs. A word the API does not know (a
//! status, a trigger) or a release id that fails its check is the ledger
//! failing, a 500 whose cause is logged, never a value passed on as if it
//! were known.

use crate::ApiError;
use haul_api::records as api;
use haul_api::{DeploymentStatus, Trigger, UnknownName, VerificationResult};
use haul_ledger as ledger;
use haul_release::ReleaseId;
use std::str::FromStr;

fn word<T: FromStr<Err = UnknownName>>(s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|e: UnknownName| ApiError::internal(&format_args!("the ledger holds {e}")))
}

fn release_id(s: String) -> Result<ReleaseId, ApiError> {
    ReleaseId::try_from(s).map_err(|e| ApiError::internal(&format_args!("the ledger holds a bad release id: {e}")))
}

pub(crate) fn deployment(d: ledger::Deployment) -> Result<api::Deployment, ApiError> {
    Ok(api::Deployment {
        id: d.id,
        app: d.app,
        env: d.env,
        release: release_id(d.release)?,
        trigger: word::<Trigger>(d.trigger.as_str())?,
        actor: d.actor,
        reason: d.reason,
        config_digest: d.config_digest,
        status: word::<DeploymentStatus>(d.status.as_str())?,
        undoes: d.undoes,
        message: d.message,
        started: d.started,
        finished: d.finished,
        forced: d.forced,
        runner: d.runner.map(runner),
        lease_until: d.lease_until,
    })
}

pub(crate) fn deployments(ds: Vec<ledger::Deployment>) -> Result<Vec<api::Deployment>, ApiError> {
    ds.into_iter().map(deployment).collect()
}

fn runner(r: ledger::Runner) -> api::Runner {
    api::Runner { machine: r.machine, pid: r.pid, boot: r.boot, pidns: r.pidns, start: r.start }
}

pub(crate) fn to_runner(r: api::Runner) -> ledger::Runner {
    ledger::Runner { machine: r.machine, pid: r.pid, boot: r.boot, pidns: r.pidns, start: r.start }
}

pub(crate) fn host(h: ledger::HostResult) -> api::HostResult {
    api::HostResult { host: h.host, phase: h.phase, status: h.status, error: h.error, elapsed_ms: h.elapsed_ms }
}

pub(crate) fn to_host(h: api::HostResult) -> ledger::HostResult {
    ledger::HostResult { host: h.host, phase: h.phase, status: h.status, error: h.error, elapsed_ms: h.elapsed_ms }
}

pub(crate) fn to_trigger(t: Trigger) -> ledger::Trigger {
    match t {
        Trigger::Deploy => ledger::Trigger::Deploy,
        Trigger::Promote => ledger::Trigger::Promote,
        Trigger::Rollback => ledger::Trigger::Rollback,
    }
}

pub(crate) fn to_status(s: DeploymentStatus) -> ledger::Status {
    match s {
        DeploymentStatus::Running => ledger::Status::Running,
        DeploymentStatus::Succeeded => ledger::Status::Succeeded,
        DeploymentStatus::Failed => ledger::Status::Failed,
        DeploymentStatus::SwitchedBack => ledger::Status::SwitchedBack,
        DeploymentStatus::Undone => ledger::Status::Undone,
    }
}

pub(crate) fn to_result(r: VerificationResult) -> ledger::VerificationResult {
    match r {
        VerificationResult::Pass => ledger::VerificationResult::Pass,
        VerificationResult::Fail => ledger::VerificationResult::Fail,
        VerificationResult::Error => ledger::VerificationResult::Error,
    }
}

pub(crate) fn verification(v: ledger::Verification) -> Result<api::Verification, ApiError> {
    Ok(api::Verification {
        id: v.id,
        deployment: v.deployment,
        name: v.name,
        result: word(v.result.as_str())?,
        link: v.link,
        reporter: v.reporter,
        at: v.at,
    })
}

pub(crate) fn release(r: ledger::Release) -> Result<api::Release, ApiError> {
    Ok(api::Release {
        app: r.app,
        id: release_id(r.id)?,
        digest: r.digest,
        revision: r.revision,
        built_by: r.built_by,
        created: r.created,
        files: r.files,
        bytes: r.bytes,
    })
}

pub(crate) fn approval(a: ledger::Approval) -> api::Approval {
    api::Approval { id: a.id, app: a.app, release: a.release, env: a.env, actor: a.actor, comment: a.comment, at: a.at }
}

pub(crate) fn quarantine(q: ledger::Quarantine) -> api::Quarantine {
    api::Quarantine { app: q.app, release: q.release, reason: q.reason, actor: q.actor, at: q.at }
}

pub(crate) fn candidate(c: ledger::Candidate) -> api::Candidate {
    api::Candidate { release: c.release, deployment: c.deployment, unmet: c.unmet }
}

pub(crate) fn event(e: ledger::Event) -> api::Event {
    api::Event { seq: e.seq, at: e.at, actor: e.actor, kind: e.kind, subject: e.subject, data: e.data }
}

pub(crate) fn delivery(d: ledger::Delivery) -> Result<api::Delivery, ApiError> {
    Ok(api::Delivery {
        id: d.id,
        webhook: d.webhook,
        event: d.event,
        kind: d.kind,
        status: word(&d.status)?,
        attempts: d.attempts,
        next_at: d.next_at,
        lease_owner: d.lease_owner,
        lease_until: d.lease_until,
        last_status: d.last_status,
        last_error: d.last_error,
        created: d.created,
        updated: d.updated,
    })
}

pub(crate) fn attempt(a: ledger::DeliveryAttempt) -> api::DeliveryAttempt {
    api::DeliveryAttempt {
        id: a.id,
        delivery: a.delivery,
        at: a.at,
        status: a.status,
        error: a.error,
        duration_ms: a.duration_ms,
    }
}

pub(crate) fn audit(r: ledger::AuditReport) -> api::AuditReport {
    api::AuditReport { entries: r.entries, broken: r.broken }
}

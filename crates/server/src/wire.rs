//! The boundary between the ledger's model and the API's types (`haul_api`):
//! records read from the ledger become the shapes the API answers with, and
//! requests become the ledger's inputs. A word the API does not know (a
//! status, a trigger) or a release id that fails its check is the ledger
//! failing, a 500 whose cause is logged, never a value passed on as if it
//! were known.

use crate::ApiError;
use haul_api::UnknownName;
use haul_api::records as api;
use haul_ledger as ledger;
use std::str::FromStr;

fn word<T: FromStr<Err = UnknownName>>(s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|e: UnknownName| ApiError::internal(&format_args!("the ledger holds {e}")))
}

/// A time in the ledger's one text form.
fn text(t: jiff::Timestamp) -> String {
    ledger::time::text(t)
}

pub(crate) fn deployment(d: ledger::Deployment) -> Result<api::Deployment, ApiError> {
    Ok(d.into())
}

pub(crate) fn deployments(ds: Vec<ledger::Deployment>) -> Result<Vec<api::Deployment>, ApiError> {
    ds.into_iter().map(deployment).collect()
}

pub(crate) fn host(h: ledger::HostResult) -> api::HostResult {
    h.into()
}

pub(crate) fn to_host(h: api::HostResult) -> ledger::HostResult {
    h.into()
}

pub(crate) fn verification(v: ledger::Verification) -> Result<api::Verification, ApiError> {
    Ok(v.into())
}

pub(crate) fn release(r: ledger::Release) -> Result<api::Release, ApiError> {
    Ok(api::Release {
        app: r.app,
        id: r.id,
        digest: r.digest,
        revision: r.revision,
        built_by: r.built_by,
        created: r.created.to_string(),
        files: r.files,
        bytes: r.bytes,
    })
}

pub(crate) fn approval(a: ledger::Approval) -> api::Approval {
    api::Approval {
        id: a.id,
        app: a.app,
        release: a.release,
        env: a.env,
        actor: a.actor,
        comment: a.comment,
        at: text(a.at),
    }
}

pub(crate) fn quarantine(q: ledger::Quarantine) -> api::Quarantine {
    api::Quarantine { app: q.app, release: q.release, reason: q.reason, actor: q.actor, at: text(q.at) }
}

pub(crate) fn candidate(c: ledger::Candidate) -> api::Candidate {
    c.into()
}

pub(crate) fn event(e: ledger::Event) -> api::Event {
    api::Event { seq: e.seq, at: text(e.at), actor: e.actor, kind: e.kind, subject: e.subject, data: e.data }
}

pub(crate) fn delivery(d: ledger::Delivery) -> Result<api::Delivery, ApiError> {
    Ok(api::Delivery {
        id: d.id,
        webhook: d.webhook,
        event: d.event,
        kind: d.kind,
        status: word(&d.status)?,
        attempts: d.attempts,
        next_at: text(d.next_at),
        lease_owner: d.lease_owner,
        lease_until: d.lease_until.map(text),
        last_status: d.last_status,
        last_error: d.last_error,
        created: text(d.created),
        updated: text(d.updated),
    })
}

pub(crate) fn attempt(a: ledger::DeliveryAttempt) -> api::DeliveryAttempt {
    api::DeliveryAttempt {
        id: a.id,
        delivery: a.delivery,
        at: text(a.at),
        status: a.status,
        error: a.error,
        duration_ms: a.duration_ms,
    }
}

pub(crate) fn audit(r: ledger::AuditReport) -> api::AuditReport {
    r.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_release::ReleaseId;
    use serde_json::json;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    /// The API's records keep the JSON the ledger's model had on the wire.
    #[test]
    fn records_keep_their_json() {
        let id = ReleaseId::new("0123456789abcdef0123");
        let runner =
            ledger::Runner { machine: "m".into(), pid: 7, boot: Some("b".into()), pidns: None, start: Some(9) };
        for (runner, lease_until) in [(None, None), (Some(runner), Some(at("2026-01-01T00:00:01.000000Z")))] {
            let d = ledger::Deployment {
                id: 3,
                app: "app".into(),
                env: "prod".into(),
                release: id.clone(),
                trigger: ledger::Trigger::Rollback,
                actor: "alice via ci".into(),
                reason: None,
                config_digest: "c".into(),
                status: ledger::DeploymentStatus::SwitchedBack,
                undoes: Some(2),
                message: Some("m\nn".into()),
                started: at("2026-01-01T00:00:00.000000Z"),
                finished: None,
                forced: Some("quarantined".into()),
                runner,
                lease_until,
            };
            let before = serde_json::to_value(&d).unwrap();
            assert_eq!(serde_json::to_value(deployment(d).unwrap()).unwrap(), before);
        }
        let r = ledger::Release {
            app: "app".into(),
            id,
            digest: "d".into(),
            revision: None,
            built_by: "ci".into(),
            created: at("2026-01-01T00:00:00Z"),
            files: 1,
            bytes: 2,
        };
        let before = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::to_value(release(r).unwrap()).unwrap(), before);
        let h = ledger::HostResult {
            host: "a".into(),
            phase: ledger::Phase::Switch,
            status: ledger::HostStatus::Running,
            error: None,
            elapsed_ms: 5,
        };
        assert_eq!(serde_json::to_value(host(h.clone())).unwrap(), serde_json::to_value(&h).unwrap());
        let report = ledger::AuditReport { entries: 4, broken: Some((2, "hash".into())) };
        assert_eq!(serde_json::to_value(audit(report)).unwrap(), json!({ "entries": 4, "broken": [2, "hash"] }));
    }

    /// A word the API does not know, read from the ledger, is the ledger
    /// failing (a 500), never passed on.
    #[test]
    fn an_unknown_delivery_status_in_the_ledger_is_an_error_not_passed_on() {
        let d = ledger::Delivery {
            id: 1,
            webhook: "w".into(),
            event: 1,
            kind: "k".into(),
            status: "lost".into(),
            attempts: 0,
            next_at: at("2026-01-01T00:00:00Z"),
            lease_owner: None,
            lease_until: None,
            last_status: None,
            last_error: None,
            created: at("2026-01-01T00:00:00Z"),
            updated: at("2026-01-01T00:00:00Z"),
        };
        assert_eq!(delivery(d).unwrap_err().status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[cfg(test)]
mod build_time_tests {
    /// Every shape of build time the document allows (`format: date-time`
    /// and its pattern) is one the server takes, so a schema-valid release is
    /// never refused for its time.
    #[test]
    fn build_times_the_document_allows_are_taken() {
        for s in [
            "2000-01-01T00:00:00Z",
            "2000-01-01t00:00:00z",
            "2000-12-31T23:59:60Z",
            "2000-01-01T00:00:00.123456789-00:00",
            "0000-01-01T00:00:00+23:59",
            "8999-12-31T23:59:59-23:59",
        ] {
            let r = s.parse::<jiff::Timestamp>();
            assert!(r.is_ok(), "{s}: {r:?}");
        }
    }
}

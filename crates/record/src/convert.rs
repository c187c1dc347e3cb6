//! The boundary between the API's types (`haul_api`) and the ledger's model
//! (`haul_ledger`) on the client side: what a caller hands the client
//! becomes the shared request types the server reads, and the records a
//! server answers with become the ledger's model again. Times travel in the
//! ledger's text form and are parsed back here; one that is not a time is a
//! malformed answer, reported as a decode error (the caller makes it
//! [`crate::RecordError::Unexpected`]), never passed on.

use haul_api::records as api;
use haul_ledger as ledger;
use serde::de::Error as _;

pub(crate) fn release(r: &ledger::NewRelease) -> haul_api::requests::RegisterRelease {
    haul_api::requests::RegisterRelease {
        app: r.app.clone(),
        id: r.id.clone(),
        digest: r.digest.clone(),
        revision: r.revision.clone(),
        built_by: r.built_by.clone(),
        created: r.created.to_string(),
        files: r.files,
        bytes: r.bytes,
    }
}

pub(crate) fn host(h: &ledger::HostResult) -> api::HostResult {
    h.clone().into()
}

pub(crate) fn to_deployment(d: api::Deployment) -> Result<ledger::Deployment, serde_json::Error> {
    ledger::Deployment::try_from(d).map_err(serde_json::Error::custom)
}

pub(crate) fn to_verification(v: api::Verification) -> Result<ledger::Verification, serde_json::Error> {
    ledger::Verification::try_from(v).map_err(serde_json::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_ledger::ReleaseId;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn deployment(runner: Option<ledger::Runner>, lease_until: Option<jiff::Timestamp>) -> ledger::Deployment {
        ledger::Deployment {
            id: 3,
            app: "app".into(),
            env: "prod".into(),
            release: ReleaseId::new("0123456789abcdef0123"),
            trigger: ledger::Trigger::Rollback,
            actor: "alice via ci".into(),
            reason: None,
            config_digest: "c".into(),
            status: ledger::DeploymentStatus::SwitchedBack,
            undoes: Some(2),
            message: Some("m\nn".into()),
            started: at("2026-01-01T00:00:00.000000Z"),
            finished: Some(at("2026-01-01T00:00:02.500000Z")),
            forced: Some("quarantined".into()),
            runner,
            lease_until,
        }
    }

    /// What the server sends in the API's types reads back as the ledger's
    /// model, the same deployment the ledger's own JSON gave.
    #[test]
    fn a_deployment_reads_back_as_the_ledger_had_it() {
        let runner =
            ledger::Runner { machine: "m".into(), pid: 7, boot: Some("b".into()), pidns: None, start: Some(9) };
        for (runner, lease_until) in [(None, None), (Some(runner), Some(at("2026-01-01T00:00:01.000000Z")))] {
            let d = deployment(runner, lease_until);
            let sent: api::Deployment = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
            assert_eq!(to_deployment(sent).unwrap(), d);
        }
    }

    /// A time that is not one is a decode error, never a default.
    #[test]
    fn a_deployment_with_a_time_that_is_not_one_is_an_error() {
        let mut json = serde_json::to_value(deployment(None, None)).unwrap();
        json["started"] = "yesterday".into();
        let sent: api::Deployment = serde_json::from_value(json).unwrap();
        let err = to_deployment(sent).unwrap_err();
        assert!(err.to_string().contains("\"yesterday\" is not a time"), "{err}");
    }

    /// The requests keep the JSON the ledger's model had on the wire.
    #[test]
    fn requests_keep_their_json() {
        let r = ledger::NewRelease {
            app: "app".into(),
            id: ReleaseId::new("0123456789abcdef0123"),
            digest: "d".into(),
            revision: None,
            built_by: "ci".into(),
            created: at("2026-01-01T00:00:00Z"),
            files: 1,
            bytes: 2,
        };
        assert_eq!(serde_json::to_value(release(&r)).unwrap(), serde_json::to_value(&r).unwrap());
        let h = ledger::HostResult {
            host: "a".into(),
            phase: ledger::Phase::Switch,
            status: ledger::HostStatus::Running,
            error: Some("e".into()),
            elapsed_ms: 5,
        };
        assert_eq!(serde_json::to_value(host(&h)).unwrap(), serde_json::to_value(&h).unwrap());
        let v = ledger::Verification {
            id: 1,
            deployment: 3,
            name: "smoke".into(),
            result: ledger::VerificationResult::Pass,
            link: None,
            reporter: "ci".into(),
            at: at("2026-01-01T00:00:00.000001Z"),
        };
        let sent: api::Verification = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
        assert_eq!(to_verification(sent).unwrap(), v);
    }
}

//! A blessing and keys to judge, shared by this crate's tests.
#![allow(dead_code)]

use haul_bless::{ArchiveRef, Blessing, FORMAT, SecretKey, Steps, Trust};
use haul_release::ReleaseId;
use jiff::{SignedDuration, Timestamp};

pub fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

pub fn blessing(version: u64) -> Blessing {
    Blessing {
        format: FORMAT,
        app: "web".into(),
        env: "prod".into(),
        version,
        release: ReleaseId::parse("20261202T040000.000Z-0123456789ab").unwrap(),
        archive: ArchiveRef { blake3: "a".repeat(64), size: 1000 },
        record: ArchiveRef { blake3: "b".repeat(64), size: 200 },
        previous: None,
        waves: vec![],
        steps: Steps { path: "web".into(), keep: 3, ..Steps::default() },
        issued: now() - SignedDuration::from_hours(1),
        expires: now() + SignedDuration::from_hours(24),
        by: "alice".into(),
        reason: None,
        deployment: None,
        report_keys: vec![],
    }
}

pub fn trust(keys: &[&SecretKey], threshold: usize) -> Trust {
    Trust::new(keys.iter().map(|k| k.public()).collect(), threshold).unwrap()
}

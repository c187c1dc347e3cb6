//! What every ledger test binary shares: release ids that pass the release
//! crate's check, named by a short tag so that tests read as before.

use haul_ledger::ReleaseId;

/// The release id tagged `tag` (`r1` becomes `r1-0123456789ab`).
pub fn rid(tag: &str) -> ReleaseId {
    ReleaseId::parse(&format!("{tag}-0123456789ab")).expect("a valid release id")
}

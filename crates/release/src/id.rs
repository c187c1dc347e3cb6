//! Release ids: `20261123T190512.345Z-<12 hex of the digest>`.
//!
//! The time prefix makes ids sort by build time (the newest release on a host
//! is the greatest id); the digest suffix ties the id to the content.

/// A new id for a release whose manifest digest is `digest`.
pub fn new_release_id(digest: &str) -> String {
    let now = jiff::Timestamp::now();
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%S.%3fZ"), &digest[..12.min(digest.len())])
}

/// Whether `s` has the shape of a release id (so it is safe in paths and
/// shell words).
pub fn is_release_id(s: &str) -> bool {
    s.len() >= 14
        && s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// The one check of a release id that comes from outside (the command line,
/// the ledger, a host): an id is used in paths and shell words, so anything
/// else is refused before it reaches either.
pub fn check_release_id(s: &str) -> Result<(), crate::ReleaseError> {
    if is_release_id(s) { Ok(()) } else { Err(crate::ReleaseError::BadId { id: s.to_string() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_sort_by_time() {
        let a = new_release_id("0123456789abcdef0123");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_release_id("ffffffffffffffffffff");
        assert!(is_release_id(&a), "{a}");
        assert!(a < b, "{a} < {b}");
        assert!(a.ends_with("-0123456789ab"));
        assert!(!is_release_id("../etc"));
        assert!(!is_release_id("x; rm -rf /"));
    }
}

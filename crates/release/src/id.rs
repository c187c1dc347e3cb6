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
/// shell words). Beside its tree `releases/ID`, a host holds names made from
/// the id: `ID.manifest`, `ID.manifest.tmp` and each run's stage names
/// `.stage-ID.by-RUN`. So no dot-separated part after the first is
/// `manifest` or begins with `by-`: such an id would name another release's
/// manifest or stage (staging `A` would clear the tree of a release named
/// `A.manifest`; a prune would take a release ending `.manifest.tmp` for a
/// stopped write).
pub fn is_release_id(s: &str) -> bool {
    s.len() >= 14
        && s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && !s.split('.').skip(1).any(|part| part == "manifest" || part.starts_with("by-"))
}

/// The one check of a release id that comes from outside (the command line,
/// the ledger, a host): an id is used in paths and shell words, so anything
/// else is refused before it reaches either.
pub fn check_release_id(s: &str) -> Result<(), crate::ReleaseError> {
    if is_release_id(s) { Ok(()) } else { Err(crate::ReleaseError::BadId { id: s.to_string() }) }
}

/// A release id that has passed [`check_release_id`]: the only kind of id that
/// may reach a path or a host script. It can be made only by parsing (from the
/// command line, the ledger, a host, JSON) or by [`ReleaseId::new`], so holding
/// one is the proof that the check ran.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

impl ReleaseId {
    /// A new, time-sortable id for a release whose manifest digest is `digest`.
    pub fn new(digest: &str) -> ReleaseId {
        ReleaseId(new_release_id(digest))
    }

    /// `s` as a release id, or the error that names it.
    pub fn parse(s: &str) -> Result<ReleaseId, crate::ReleaseError> {
        check_release_id(s)?;
        Ok(ReleaseId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::str::FromStr for ReleaseId {
    type Err = crate::ReleaseError;
    fn from_str(s: &str) -> Result<ReleaseId, crate::ReleaseError> {
        ReleaseId::parse(s)
    }
}

impl TryFrom<String> for ReleaseId {
    type Error = crate::ReleaseError;
    fn try_from(s: String) -> Result<ReleaseId, crate::ReleaseError> {
        check_release_id(&s)?;
        Ok(ReleaseId(s))
    }
}

impl<'de> serde::Deserialize<'de> for ReleaseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ReleaseId, D::Error> {
        let s = String::deserialize(d)?;
        ReleaseId::try_from(s).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ReleaseId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ReleaseId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ReleaseId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ReleaseId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
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

    #[test]
    fn release_id_cannot_hold_an_unchecked_id() {
        for bad in ["../etc/passwd1234567", "x; rm -rf / 1234567", "", "short", "-leading-dash-123456", &"a".repeat(65)]
        {
            assert!(ReleaseId::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_value::<ReleaseId>(serde_json::json!(bad)).is_err(), "{bad:?}");
        }
        let id = ReleaseId::new("0123456789abcdef0123");
        let back: ReleaseId = serde_json::from_value(serde_json::to_value(&id).unwrap()).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.as_str().parse::<ReleaseId>().unwrap(), id);
    }

    #[test]
    fn an_id_never_names_another_releases_manifest_or_stage() {
        let id = ReleaseId::new("0123456789abcdef0123").into_string();
        for bad in
            [format!("{id}.manifest"), format!("{id}.manifest.tmp"), format!("{id}.by-run1"), format!("{id}.by-")]
        {
            assert!(!is_release_id(&bad), "{bad:?}");
            let e = ReleaseId::parse(&bad).unwrap_err().to_string();
            assert!(e.contains("manifest") && e.contains("by-"), "{e}");
        }
        for good in
            [format!("{id}.manifests"), format!("{id}.1"), "v1-manifest.build.7".to_string(), format!("{id}.bypass")]
        {
            assert!(is_release_id(&good), "{good:?}");
        }
    }
}

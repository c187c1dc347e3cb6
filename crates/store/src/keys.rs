//! Where everything lives in a store: the one home of the key layout.
//!
//! ```text
//! releases/<app>/<id>/index.json         the spool's commit point, written once
//! releases/<app>/<id>/<blake3>.tar.zst   the archive, named by its digest
//! releases/<app>/<id>/<blake3>.record    the release record, named by its digest
//! blessings/<app>/<env>/<version>.json   signed envelopes, each written once
//! blessings/<app>/<env>/latest           hint: a copy of the newest envelope
//! reports/<app>/<env>/<host>.json        each agent's last report (one writer)
//! claims/<app>/<env>/<id>/<what>         "exactly once" claims (migrate once)
//! verifications/<app>/<env>/<version>/<name>.json
//!                                        the standing result of a verification
//!                                        of that blessing's deployment
//! probes/<random>                        the start-up create-if-absent check
//! ```
//!
//! Objects named by their digest may be written twice harmlessly (same
//! bytes); every object that decides something is written create-if-absent.

use crate::StoreError;

/// Checks that `s` can be one component of a key: what `haul.toml` allows
/// for names, so no name reaches another's objects.
pub fn component<'a>(what: &str, s: &'a str) -> Result<&'a str, StoreError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s)
    } else {
        Err(StoreError::Url {
            url: String::new(),
            message: format!("{what} {s:?} cannot name objects in a store: use letters, digits, '-', '_' and '.'"),
        })
    }
}

pub fn release_dir(app: &str, id: &str) -> String {
    format!("releases/{app}/{id}")
}
pub fn release_index(app: &str, id: &str) -> String {
    format!("releases/{app}/{id}/index.json")
}
pub fn archive(app: &str, id: &str, blake3: &str) -> String {
    format!("releases/{app}/{id}/{blake3}.tar.zst")
}
pub fn record(app: &str, id: &str, blake3: &str) -> String {
    format!("releases/{app}/{id}/{blake3}.record")
}
pub fn releases(app: &str) -> String {
    format!("releases/{app}/")
}
pub fn blessings(app: &str, env: &str) -> String {
    format!("blessings/{app}/{env}/")
}
/// Versions are zero-padded so a listing sorts them.
pub fn blessing(app: &str, env: &str, version: u64) -> String {
    format!("blessings/{app}/{env}/{version:020}.json")
}
pub fn blessing_hint(app: &str, env: &str) -> String {
    format!("blessings/{app}/{env}/latest")
}
pub fn reports(app: &str, env: &str) -> String {
    format!("reports/{app}/{env}/")
}
pub fn report(app: &str, env: &str, host: &str) -> String {
    format!("reports/{app}/{env}/{host}.json")
}
pub fn claim(app: &str, env: &str, id: &str, what: &str) -> String {
    format!("claims/{app}/{env}/{id}/{what}")
}
pub fn verifications(app: &str, env: &str, version: u64) -> String {
    format!("verifications/{app}/{env}/{version:020}/")
}
pub fn verification(app: &str, env: &str, version: u64, name: &str) -> String {
    format!("verifications/{app}/{env}/{version:020}/{name}.json")
}
pub fn probe(nonce: &str) -> String {
    format!("probes/{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_reach_other_keys_are_refused() {
        for bad in ["", "..", ".", "a/b", "a\\b", ".hidden", "x\n", "é", &"a".repeat(129)] {
            let e = component("app", bad).unwrap_err().to_string();
            assert!(e.starts_with("app "), "{e}");
        }
        for good in ["web", "my_site", "prod-eu.1"] {
            assert_eq!(component("app", good).unwrap(), good);
        }
    }

    #[test]
    fn blessing_keys_sort_by_version() {
        let mut keys: Vec<String> = [10, 9, 100, 1].iter().map(|v| blessing("a", "e", *v)).collect();
        keys.sort();
        assert_eq!(keys, [1, 9, 10, 100].iter().map(|v| blessing("a", "e", *v)).collect::<Vec<_>>());
    }
}

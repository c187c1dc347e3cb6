//! The switch history and the previous/next chain derived from it.
//!
//! The history is append-only; the chain (which release was live before
//! which) is never stored, only derived, so removing a release cannot leave
//! it inconsistent: a removal re-stitches the chain around the removed one.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A deploy switched `from` → `to`.
    Deploy,
    /// A rollback switched `from` → `to`.
    Rollback,
    /// A failed deploy was switched back `from` → `to`.
    Switchback,
    /// Release `from` was removed.
    Remove,
    /// A lock was cleared by hand.
    Unlock,
}

/// One line of `.haul/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: String,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Event {
    pub fn now(kind: EventKind, actor: &str) -> Event {
        Event {
            at: jiff::Timestamp::now().to_string(),
            kind,
            from: None,
            to: None,
            env: None,
            actor: actor.to_string(),
            reason: None,
        }
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("event serializes")
    }
}

/// For each release, the release that was live before it was first (or last)
/// deployed over, with removed releases stitched out.
pub fn previous_links(events: &[Event]) -> HashMap<String, String> {
    let mut prev: HashMap<String, String> = HashMap::new();
    for e in events {
        match e.kind {
            EventKind::Deploy => {
                if let (Some(from), Some(to)) = (&e.from, &e.to)
                    && from != to
                {
                    prev.insert(to.clone(), from.clone());
                }
            }
            EventKind::Remove => {
                if let Some(gone) = &e.from {
                    let before = prev.remove(gone);
                    let pointing: Vec<String> =
                        prev.iter().filter(|(_, p)| *p == gone).map(|(k, _)| k.clone()).collect();
                    for k in pointing {
                        match &before {
                            Some(b) if *b != k => {
                                prev.insert(k, b.clone());
                            }
                            _ => {
                                prev.remove(&k);
                            }
                        }
                    }
                }
            }
            EventKind::Rollback | EventKind::Switchback | EventKind::Unlock => {}
        }
    }
    prev
}

/// Where a rollback from `current` goes: the chain's previous release that
/// still exists on the host.
pub fn rollback_target(events: &[Event], current: &str, existing: &BTreeSet<String>) -> Option<String> {
    let prev = previous_links(events);
    let mut at = current.to_string();
    let mut seen = BTreeSet::new();
    while let Some(p) = prev.get(&at) {
        if !seen.insert(p.clone()) {
            return None;
        }
        if existing.contains(p) {
            return Some(p.clone());
        }
        at = p.clone();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind, from: &str, to: &str) -> Event {
        Event {
            from: (!from.is_empty()).then(|| from.to_string()),
            to: (!to.is_empty()).then(|| to.to_string()),
            ..Event::now(kind, "t")
        }
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chain_follows_deploys_and_restitches_on_remove() {
        let mut h =
            vec![ev(EventKind::Deploy, "", "a"), ev(EventKind::Deploy, "a", "b"), ev(EventKind::Deploy, "b", "c")];
        assert_eq!(rollback_target(&h, "c", &set(&["a", "b", "c"])), Some("b".into()));
        h.push(ev(EventKind::Remove, "b", ""));
        assert_eq!(rollback_target(&h, "c", &set(&["a", "c"])), Some("a".into()));
        assert_eq!(previous_links(&h).get("c"), Some(&"a".to_string()));
        // Rolling back does not rewrite the chain: from a there is nothing.
        h.push(ev(EventKind::Rollback, "c", "a"));
        assert_eq!(rollback_target(&h, "a", &set(&["a", "c"])), None);
        // A deploy from a after the rollback links d → a.
        h.push(ev(EventKind::Deploy, "a", "d"));
        assert_eq!(rollback_target(&h, "d", &set(&["a", "c", "d"])), Some("a".into()));
    }

    #[test]
    fn missing_releases_are_skipped() {
        let h = vec![ev(EventKind::Deploy, "a", "b"), ev(EventKind::Deploy, "b", "c")];
        assert_eq!(rollback_target(&h, "c", &set(&["a", "c"])), Some("a".into()));
    }
}

//! The one rule for what a host must receive.
//!
//! Given the host's newest release (the base) and the new manifest, `send` is
//! what must travel and `drop` is what must be removed from a hard-linked copy
//! of the base before the sent entries are laid over it. Everything else is
//! reused from the base without copying.

use crate::manifest::{Entry, Kind, Manifest};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Entries of the new manifest to write: new paths, changed files and
    /// symlinks, and directories that are new or changed mode.
    pub send: Vec<Entry>,
    /// Paths of the base to remove (recursively): deleted, changed files and
    /// symlinks, and paths whose kind changed.
    pub drop: Vec<String>,
    /// Files reused from the base.
    pub reused: usize,
}

impl Diff {
    /// What turns `base` (or nothing) into `new`.
    pub fn between(base: Option<&Manifest>, new: &Manifest) -> Diff {
        let Some(base) = base else {
            return Diff { send: new.entries.clone(), ..Diff::default() };
        };
        let old: HashMap<&str, &Entry> = base.entries.iter().map(|e| (e.path.as_str(), e)).collect();
        let mut d = Diff::default();
        for e in &new.entries {
            match old.get(e.path.as_str()) {
                Some(o) if *o == e => {
                    if matches!(e.kind, Kind::File { .. }) {
                        d.reused += 1;
                    }
                }
                Some(o) if o.kind == Kind::Dir && e.kind == Kind::Dir => d.send.push(e.clone()),
                Some(_) => {
                    d.drop.push(e.path.clone());
                    d.send.push(e.clone());
                }
                None => d.send.push(e.clone()),
            }
        }
        let new_paths: std::collections::HashSet<&str> = new.entries.iter().map(|e| e.path.as_str()).collect();
        for o in &base.entries {
            if !new_paths.contains(o.path.as_str()) {
                d.drop.push(o.path.clone());
            }
        }
        d
    }

    /// Bytes of file content that must travel.
    pub fn send_bytes(&self) -> u64 {
        self.send.iter().map(Entry::size).sum()
    }

    pub fn send_files(&self) -> usize {
        self.send.iter().filter(|e| matches!(e.kind, Kind::File { .. })).count()
    }

    /// Applies the diff to `base` in memory, the way the host applies it to a
    /// tree: drop recursively, then lay the sent entries over.
    pub fn apply(&self, base: Option<&Manifest>) -> Manifest {
        let mut tree: BTreeMap<String, Entry> =
            base.map(|b| b.entries.iter().map(|e| (e.path.clone(), e.clone())).collect()).unwrap_or_default();
        for p in &self.drop {
            let prefix = format!("{p}/");
            tree.retain(|k, _| k != p && !k.starts_with(&prefix));
        }
        for e in &self.send {
            tree.insert(e.path.clone(), e.clone());
        }
        Manifest::new(tree.into_values().collect())
    }
}

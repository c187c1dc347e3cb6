//! Staging never acts through a link.
//!
//! `rm -rf a/b`, `mkdir -p a/b` and `cp -al tree/. stage/` all follow a
//! symlink at `a`: a link shipped in a release, left in a copied base
//! release, or placed on the host by someone would make staging remove or
//! write files outside the app directory. So every path staging acts on is
//! checked first, component by component, in the script that then acts on
//! it, and refused (naming the path, the release and, through the error, the
//! host) when a component is a link: the ancestors of what is dropped from or
//! laid over the base copy, every component of a shared path inside the
//! release, `shared/` and `releases/` themselves and every directory of a
//! shared path under `shared/`. The last component under `shared/` may be a
//! link the host's operator placed (a volume mounted elsewhere); it is used
//! as it is, never written through, and refused unless it leads to what the
//! shared path says (a directory or a file).
//!
//! The checks themselves are in `scripts/stage.sh`; this module decides,
//! from the release and the diff, which paths they are given.

use crate::stage::SharedPath;
use haul_release::{Kind, Manifest};
use std::collections::BTreeSet;

/// The checked part of `stage.sh`'s arguments: the directories that must
/// not be links before the drops (`before`: ancestors of what is dropped
/// from the base copy), the shared paths (four words each: `dir` or `file`,
/// the path, the link's target, the path as messages show it), and the
/// directories that must not be links once the drops are gone (`after`:
/// ancestors of what is laid over the copy or sent with rsync); each list
/// preceded by its length.
pub(crate) fn stage_lists<'a>(
    before: impl Iterator<Item = &'a str>,
    shared: &[SharedPath],
    after: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    fn dirs<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
        paths.flat_map(ancestors).map(str::to_string).collect()
    }
    let mut args = Vec::new();
    let before = dirs(before);
    args.push(before.len().to_string());
    args.extend(before);
    args.push(shared.len().to_string());
    for s in shared {
        let kind = if s.dir { "dir" } else { "file" };
        args.extend([kind.to_string(), s.path.clone(), s.link_target(), s.path.escape_debug().to_string()]);
    }
    let after = dirs(after);
    args.push(after.len().to_string());
    args.extend(after);
    args
}

/// The proper ancestors of `path` (`a`, `a/b` for `a/b/c`).
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Refuses a shared path whose ancestor in `release` is a link or a file,
/// before anything is sent: the release itself says where its links are.
pub(crate) fn check_release(manifest: &Manifest, id: &str, shared: &[SharedPath]) -> Result<(), String> {
    for s in shared {
        for a in ancestors(&s.path) {
            let Ok(i) = manifest.entries.binary_search_by(|e| e.path.as_str().cmp(a)) else { continue };
            let what = match &manifest.entries[i].kind {
                Kind::Dir => continue,
                Kind::File { .. } => "a file",
                Kind::Symlink { .. } => "a symlink",
            };
            return Err(format!(
                "release {id}: shared path `{}` passes through `{}`, {what} in the release; haul never follows a link in a release when it places a shared path (ship a directory there, or change `shared`)",
                s.path.escape_debug(),
                a.escape_debug()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ancestors;

    #[test]
    fn ancestors_are_the_proper_prefixes() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}

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

use crate::quote;
use crate::stage::SharedPath;
use haul_release::{Kind, Manifest};
use std::collections::BTreeSet;

/// Exit status of a script that refused to act through a link.
const REFUSED: u8 = 7;

/// Shell functions the checks call; `$S` is the stage directory.
pub(crate) fn functions(id: &str) -> String {
    format!(
        r#"refuse() {{ printf '%s\n' "$1" >&2; exit {REFUSED}; }}
linked() {{ refuse "staging release {id}: \`$1\` in the copy of the base release is a symlink, where that release has a directory; the base was changed on this host after it was staged (remove it with haul remove and deploy again); nothing was followed"; }}
shared_linked() {{ refuse "staging release {id}: shared path \`$1\` passes through \`$2\`, a symlink in the release; haul never follows a link in a release when it places a shared path"; }}
host_linked() {{ refuse "staging release {id}: \`$1\` in the app directory is a symlink; haul creates shared paths and releases only in real directories"; }}
"#
    )
}

/// Refuses, before the script touches anything, `releases/` or `shared/`
/// being links, and the base release or the new release's record being one.
pub(crate) fn app_dirs(id: &str, base: Option<&str>) -> String {
    let mut s = String::from("for d in releases shared; do [ ! -L \"$d\" ] || host_linked \"$d\"; done\n");
    // Completing renames the record onto this name; onto a link to a
    // directory, that would move it into the directory.
    s.push_str(&format!("[ ! -L releases/{id}.manifest ] || host_linked releases/{id}.manifest\n"));
    if let Some(b) = base {
        s.push_str(&format!("[ ! -L releases/{b} ] || host_linked releases/{b}\n"));
    }
    s
}

/// Checks that none of `dirs` (paths in the stage directory that must be
/// real directories if they exist) is a link.
pub(crate) fn no_links(dirs: &BTreeSet<String>) -> String {
    dirs.iter().map(|d| format!("[ ! -L \"$S\"/{q} ] || linked {q}\n", q = quote(d))).collect()
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

/// Checks that no component of `s` inside the stage directory but the last
/// is a link, then removes what is at `s` there.
pub(crate) fn clear_in_release(s: &SharedPath) -> String {
    let p = quote(&s.path);
    let mut out: String =
        ancestors(&s.path).map(|a| format!("[ ! -L \"$S\"/{q} ] || shared_linked {p} {q}\n", q = quote(a))).collect();
    out.push_str(&format!("rm -rf \"$S\"/{p}\n"));
    out
}

/// Creates `shared/<s>` when it is missing, without following a link
/// anywhere on the way, and links it into the stage directory.
pub(crate) fn place(s: &SharedPath) -> String {
    let p = quote(&s.path);
    let mut out: String =
        ancestors(&s.path).map(|a| format!("[ ! -L shared/{q} ] || host_linked shared/{q}\n", q = quote(a))).collect();
    if let Some((parent, _)) = s.path.rsplit_once('/') {
        out.push_str(&format!("mkdir -p shared/{}\n", quote(parent)));
    }
    if s.dir {
        out.push_str(&format!(
            "if [ -L shared/{p} ]; then [ -d shared/{p} ] || refuse {why}; else mkdir -p shared/{p} 2>/dev/null || :; [ -d shared/{p} ] || refuse {not}; fi\n",
            why = quote(&format!("shared/{} is a symlink that does not lead to a directory", s.path.escape_debug())),
            not = quote(&format!("shared/{} exists and is not a directory", s.path.escape_debug())),
        ));
    } else {
        out.push_str(&format!(
            "if [ -L shared/{p} ]; then [ -f shared/{p} ] || refuse {why}; elif [ ! -e shared/{p} ]; then : > shared/{p}; fi\n[ -f shared/{p} ] || refuse {not}\n",
            why = quote(&format!("shared/{} is a symlink that does not lead to a file", s.path.escape_debug())),
            not = quote(&format!("shared/{} exists and is not a file", s.path.escape_debug())),
        ));
    }
    out.push_str(&clear_in_release(s));
    if let Some((parent, _)) = s.path.rsplit_once('/') {
        out.push_str(&format!("mkdir -p \"$S\"/{}\n", quote(parent)));
    }
    out.push_str(&format!("ln -s {t} \"$S\"/{p}\n", t = quote(&s.link_target())));
    out
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

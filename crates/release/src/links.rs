//! Where a symlink of a shipped tree leads, decided from the tree alone.
//!
//! A release must never contain a link that leads out of it, on any host,
//! whether or not its target exists when the tree is packed: a link that
//! dangles today (`esc -> s/s/../../../x`, with `s -> .`) is followed
//! tomorrow by whatever places a file through it. Counting `..` in the text
//! is not enough, because other links of the tree change what `..` means.
//!
//! So a link is resolved the way the kernel would resolve it, but lexically:
//! its target's components are walked from the link's directory, keeping a
//! stack of real path components inside the tree; a component that names a
//! link of the tree is replaced by that link's target (at most
//! [`MAX_HOPS`] times, as `ELOOP` does). `..` above the root is an escape;
//! an absolute target is an escape too, even one that names a path inside
//! the tree today (the tree lands somewhere else on a host). A missing final
//! component is fine as long as the path stays inside.

use crate::ReleaseError;
use std::collections::HashMap;

/// How many links one resolution may follow (Linux's `MAXSYMLINKS`).
pub const MAX_HOPS: usize = 40;

/// Why a link may not ship.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkEscape {
    /// The link, or a link it leads through (`via`), has an absolute target.
    #[error("{}an absolute target; links must be relative and stay inside the tree", via_text(via, "has"))]
    Absolute { via: Option<String> },
    /// Walking the target climbs above the tree's root.
    #[error("{}climbs above the tree's root", via_text(via, ""))]
    AboveRoot { via: Option<String> },
    /// More than [`MAX_HOPS`] links: a loop.
    #[error("it leads through more than {MAX_HOPS} links (a loop of links)")]
    Loop,
}

fn via_text(via: &Option<String>, verb: &str) -> String {
    match (via, verb) {
        (Some(v), "") => format!("followed through `{v}` (a link in the tree), it "),
        (Some(v), verb) => format!("it leads through `{v}`, a link in the tree that {verb} "),
        (None, "") => "it ".to_string(),
        (None, verb) => format!("it {verb} "),
    }
}

/// Resolves the link at `link` (a clean relative path in the tree) with
/// `target`, where `links` says which paths of the tree are links and to
/// what. Returns the path the link leads to, relative to the root (`""` is
/// the root itself), or why it leaves the tree.
pub fn resolve_link<'a>(
    link: &'a str,
    target: &'a str,
    links: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, LinkEscape> {
    if target.starts_with('/') {
        return Err(LinkEscape::Absolute { via: None });
    }
    // Real components reached so far, and components still to walk (in
    // reverse, so a link's target can be pushed in front of the rest).
    let mut at: Vec<&'a str> = link.split('/').collect();
    at.pop();
    let mut todo: Vec<&'a str> = target.split('/').rev().collect();
    let mut hops = 0;
    let mut via: Option<String> = None;
    while let Some(c) = todo.pop() {
        match c {
            "" | "." => {}
            ".." => {
                if at.pop().is_none() {
                    return Err(LinkEscape::AboveRoot { via });
                }
            }
            name => {
                at.push(name);
                let path = at.join("/");
                if let Some(t) = links(&path) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(LinkEscape::Loop);
                    }
                    at.pop();
                    if t.starts_with('/') {
                        return Err(LinkEscape::Absolute { via: Some(path) });
                    }
                    todo.extend(t.split('/').rev());
                    via = Some(path);
                }
            }
        }
    }
    Ok(at.join("/"))
}

/// Refuses the first link (in path order) of `links` (path to target) that
/// leads out of the tree they are all part of.
pub(crate) fn check_links(links: &HashMap<String, String>) -> Result<(), ReleaseError> {
    let mut paths: Vec<&String> = links.keys().collect();
    paths.sort();
    for path in paths {
        let target = &links[path];
        resolve_link(path, target, |p| links.get(p).map(String::as_str))
            .map_err(|why| ReleaseError::SymlinkEscapes { path: path.clone(), target: target.clone(), why })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LinkEscape, resolve_link};
    use std::collections::HashMap;

    fn resolve(tree: &[(&'static str, &'static str)], link: &'static str) -> Result<String, LinkEscape> {
        let links: HashMap<&str, &str> = tree.iter().copied().collect();
        resolve_link(link, links[link], |p| links.get(p).copied())
    }

    #[test]
    fn links_resolve_inside_the_tree_or_are_refused() {
        use LinkEscape::*;
        let above = |via: Option<&str>| Err(AboveRoot { via: via.map(str::to_string) });
        type Case = (&'static [(&'static str, &'static str)], &'static str, Result<String, LinkEscape>);
        let table: &[Case] = &[
            (&[("a", "b")], "a", Ok("b".into())),
            (&[("d/a", "../b")], "d/a", Ok("b".into())),
            (&[("a", "../b")], "a", above(None)),
            (&[("d/a", "../../b")], "d/a", above(None)),
            (&[("a", "/etc/passwd")], "a", Err(Absolute { via: None })),
            (&[("d/e/a", "../../x/./y")], "d/e/a", Ok("x/y".into())),
            (&[("d/a", "x/../../../y")], "d/a", above(None)),
            (&[("a", ".")], "a", Ok(String::new())),
            (&[("a", "x//y/")], "a", Ok("x/y".into())),
            // The chain of the issue: `s` is the root, so each `s/` adds no depth.
            (&[("s", "."), ("esc", "s/s/s/../../../../../tmp/x")], "esc", above(Some("s"))),
            (&[("s", "."), ("ok", "s/s/s/x")], "ok", Ok("x".into())),
            // Through a directory link: `d -> a/b/c` makes `d/..` mean `a/b`.
            (&[("d", "a/b/c"), ("x", "d/../../../y")], "x", Ok("y".into())),
            (&[("d", "a/b/c"), ("x", "d/../../../../y")], "x", above(Some("d"))),
            (&[("up", ".."), ("x", "up/y")], "x", above(Some("up"))),
            (&[("abs", "/srv"), ("x", "abs/y")], "x", Err(Absolute { via: Some("abs".into()) })),
            (&[("l", "m"), ("m", "l")], "l", Err(Loop)),
            (&[("self", "self/x")], "self", Err(Loop)),
            // Dangling at the end is fine inside the tree.
            (&[("d/a", "../missing/deeper")], "d/a", Ok("missing/deeper".into())),
            (&[("odd", "-x/$(touch y)/\n\t'\"")], "odd", Ok("-x/$(touch y)/\n\t'\"".into())),
        ];
        for (tree, link, want) in table {
            assert_eq!(&resolve(tree, link), want, "{link} in {tree:?}");
        }
    }

    #[test]
    fn escape_messages_say_why() {
        let e = resolve(&[("s", "."), ("esc", "s/../..")], "esc").unwrap_err();
        assert_eq!(e.to_string(), "followed through `s` (a link in the tree), it climbs above the tree's root");
        let e = resolve(&[("a", "/etc")], "a").unwrap_err();
        assert_eq!(e.to_string(), "it has an absolute target; links must be relative and stay inside the tree");
        let e = resolve(&[("abs", "/srv"), ("x", "abs/y")], "x").unwrap_err();
        assert!(e.to_string().starts_with("it leads through `abs`, a link in the tree that has an absolute target"));
    }
}

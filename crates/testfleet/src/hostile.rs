//! Hostile trees for the tests that pack and ship them: names built to break
//! shells, line-oriented formats and option parsing, and links laid out as a
//! case asks. One builder serves the release crate's tests (which pack the
//! tree) and the CLI's (which ship it to hosts), so both meet the same names.

use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Names built to break shells, line-oriented formats and option parsing.
pub const ODD_NAMES: &[&str] = &[
    "new\nline",
    "tab\there",
    "quote's",
    "double\"quote",
    "$(touch pwned)",
    "`touch pwned`",
    "-rf",
    "--help",
    "back\\slash",
    " spaced ",
    "ünïcødé",
    "semi;colon&amp",
    "star*?[x]",
];

/// Lays [`ODD_NAMES`] into `root`: for the `i`th name `N`, a file `N`
/// holding `"{i}\n"`, a directory `d N` holding a file `N` (`"x\n"`) and a
/// link `l N` to that file (`d N/N`).
pub fn odd_tree(root: &Path) -> io::Result<()> {
    for (i, name) in ODD_NAMES.iter().enumerate() {
        std::fs::write(root.join(name), format!("{i}\n"))?;
        let dir = root.join(format!("d {name}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), "x\n")?;
        symlink(format!("d {name}/{name}"), root.join(format!("l {name}")))?;
    }
    Ok(())
}

/// Makes each `(path, target)` link under `root`, in order (a later link
/// may be made inside a directory an earlier one names).
pub fn links(root: &Path, links: &[(&str, &str)]) -> io::Result<()> {
    for (path, target) in links {
        symlink(target, root.join(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_odd_tree_holds_every_name_as_a_file_a_directory_and_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        super::odd_tree(tmp.path()).unwrap();
        for (i, name) in super::ODD_NAMES.iter().enumerate() {
            assert_eq!(std::fs::read_to_string(tmp.path().join(name)).unwrap(), format!("{i}\n"));
            assert_eq!(std::fs::read_to_string(tmp.path().join(format!("l {name}"))).unwrap(), "x\n");
        }
    }
}

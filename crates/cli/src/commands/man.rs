//! `haul man DIR`: a man page for every command, generated from the same
//! clap definitions that parse the arguments, so a page can never describe
//! a flag the binary does not have. Packagers run it at build time; `docs/`
//! does not keep copies that could go stale.

use crate::error::{Failure, Result};
use clap::CommandFactory;
use std::path::Path;

/// Writes `haul.1` and `haul-<command>[-<sub>].1` for every (sub)command into
/// `dir`, each page written to a temporary name and renamed into place.
pub fn write_all(ctx: &super::Ctx, dir: &Path) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, "haul", dir, &mut written)?;
    for path in &written {
        ctx.printer.out(path);
    }
    Ok(())
}

fn write_tree(cmd: &clap::Command, name: &str, dir: &Path, written: &mut Vec<String>) -> Result {
    // The page's title is the full command name (`haul-store-ls`), so
    // `man haul-store-ls` finds it and the SYNOPSIS reads as typed.
    let page = cmd.clone().name(name.to_string()).bin_name(name.replace('-', " ")).version(env!("CARGO_PKG_VERSION"));
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text).map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    let tmp = dir.join(format!(".{name}.1.tmp"));
    std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    written.push(path.display().to_string());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_tree(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

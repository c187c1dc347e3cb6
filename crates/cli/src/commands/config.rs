//! `init`, `check`, `completions`: the config file itself.

use super::Ctx;
use crate::error::{Failure, Result};
use clap::CommandFactory;

/// Writes the example config and, when there is no `public/` beside it, the
/// page its app ships, so `haul deploy web staging` works right after. An
/// existing file is never overwritten (but `haul.toml` with `--force`).
pub fn init(ctx: &Ctx, force: bool) -> Result {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(Failure::Usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    let page = path.with_file_name(haul_config::EXAMPLE_PAGE_PATH);
    let public = page.parent().expect("the page is in public/");
    // A `public/` of the user's own is theirs: the example ships it as it is.
    let write_page = !public.exists();
    std::fs::write(path, haul_config::EXAMPLE)
        .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))?;
    if write_page {
        std::fs::create_dir_all(public)
            .and_then(|()| std::fs::write(&page, haul_config::EXAMPLE_PAGE))
            .map_err(|e| Failure::Run(format!("cannot write {}: {e}", page.display())))?;
        ctx.printer.out(&format!(
            "wrote {} and {} (the page the example app ships); check it with `haul check`",
            path.display(),
            page.display()
        ));
    } else {
        ctx.printer.out(&format!(
            "wrote {}; the example app ships {}/, which exists and was left as it is; check it with `haul check`",
            path.display(),
            public.display()
        ));
    }
    Ok(())
}

pub fn check(ctx: &Ctx, json: bool) -> Result {
    let config = ctx.config()?;
    let names = |keys: Vec<&String>| keys.into_iter().cloned().collect::<Vec<_>>();
    let apps = names(config.apps.keys().map(|k| k.get_ref()).collect());
    let envs = names(config.environments.keys().map(|k| k.get_ref()).collect());
    let hosts = names(config.hosts.keys().map(|k| k.get_ref()).collect());
    if json {
        ctx.printer.json(&serde_json::json!({
            "valid": true,
            "path": config.path,
            "apps": apps,
            "environments": envs,
            "hosts": hosts,
        }));
    } else {
        ctx.printer.out(&format!(
            "{} is valid: {} app{} ({}), {} environment{} ({}), {} host{}",
            config.path.display(),
            apps.len(),
            plural(apps.len()),
            apps.join(", "),
            envs.len(),
            plural(envs.len()),
            envs.join(", "),
            hosts.len(),
            plural(hosts.len()),
        ));
    }
    Ok(())
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn completions(ctx: &Ctx, shell: clap_complete::Shell) -> Result {
    let mut cmd = crate::cli::Cli::command();
    // Through the printer, so a closed stdout is quiet here too.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "haul", &mut script);
    ctx.printer.out(String::from_utf8_lossy(&script).trim_end_matches('\n'));
    Ok(())
}

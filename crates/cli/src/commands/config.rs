//! `init`, `check`, `completions`: the config file itself.

use super::Ctx;
use crate::error::{Failure, Result};
use clap::CommandFactory;

pub fn init(ctx: &Ctx, force: bool) -> Result {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(Failure::Usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    std::fs::write(path, haul_config::EXAMPLE)
        .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))?;
    ctx.printer.out(&format!("wrote {}; check it with `haul check`", path.display()));
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

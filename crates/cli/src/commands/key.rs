//! `haul key new`: the ed25519 key pair blessings are signed with. The
//! secret half goes in `[keys] sign`, the public half to the agents
//! (`HAUL_TRUST`).

use super::Ctx;
use crate::error::{Failure, Result};
use std::path::Path;

pub fn new(ctx: &Ctx, name: &str, dir: &Path, json: bool) -> Result {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(Failure::Usage(format!(
            "key name {name:?} may only use letters, digits, `-`, `_` and `.`, and must start with a letter or digit"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let key = haul_bless::SecretKey::generate(name);
    key.write_pair(dir)?;
    let id = key.public().id();
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    if json {
        ctx.printer.json(&serde_json::json!({
            "name": name,
            "id": id,
            "secret": secret.display().to_string(),
            "public": public.display().to_string(),
        }));
    } else {
        ctx.printer.out(&format!("secret key: {} (keep it; list it in [keys] sign)", secret.display()));
        ctx.printer.out(&format!("public key: {} (give it to agents: HAUL_TRUST)", public.display()));
        ctx.printer.out(&format!("key id:     {}", id.0));
    }
    Ok(())
}

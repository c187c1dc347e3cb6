//! `haul token new`: a fresh API token for `haul server`, so that nobody
//! invents a weak secret and hashes it by hand. The secret is printed once
//! and never stored; the server's `haul.toml` gets only its SHA-256.

use super::Ctx;
use crate::error::{Failure, Result};

/// The scopes a token may have (as `haul.toml` validates them).
const SCOPES: &[&str] = &["read", "deploy", "verify", "approve", "admin"];

/// Bytes of randomness in a token: 256 bits.
const ENTROPY: usize = 32;

pub fn new(ctx: &Ctx, name: &str, scopes: &[String], json: bool) -> Result {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
        return Err(Failure::Usage(format!(
            "token name `{name}`: use letters, digits and - _ . @ (it is the actor its writes are recorded as)"
        )));
    }
    let mut wanted: Vec<&str> = Vec::new();
    for s in scopes.iter().map(|s| s.trim()) {
        if !SCOPES.contains(&s) {
            return Err(Failure::Usage(format!("--scopes: unknown scope `{s}` (scopes: {})", SCOPES.join(", "))));
        }
        if !wanted.contains(&s) {
            wanted.push(s);
        }
    }
    let mut bytes = [0u8; ENTROPY];
    getrandom::fill(&mut bytes).map_err(|e| Failure::Run(format!("no randomness from the operating system: {e}")))?;
    let secret: String = format!("haul_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let sha256 = haul_server::token_sha256(&secret);
    let list = wanted.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    let toml = format!("[[server.tokens]]\nname = \"{name}\"\nsha256 = \"{sha256}\"\nscopes = [{list}]\n");
    if json {
        ctx.printer.json(&serde_json::json!({
            "name": name, "token": secret, "sha256": sha256, "scopes": wanted, "toml": toml,
        }));
    } else {
        ctx.printer.out(&secret);
        ctx.printer.out(&format!("\n{}", toml.trim_end()));
        ctx.printer.err(
            "the first line is the token, shown only this once: give it to the client (as HAUL_TOKEN); \
             add the [[server.tokens]] lines to the server's haul.toml",
        );
    }
    Ok(())
}

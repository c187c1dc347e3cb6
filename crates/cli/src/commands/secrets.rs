//! `haul secrets push`: the secret files of an app, written to an
//! environment's hosts without a deploy (after a password changed, say).
//! Prints file names only; the values never reach the printer.

use super::Ctx;
use crate::error::Result;
use serde_json::json;

pub async fn push(ctx: &Ctx, app: &str, env: &str, only: &[String], json: bool) -> Result {
    let engine = ctx.engine(ctx.config()?);
    let written = engine.push_secrets(app, env, only).await?;
    if json {
        let v: Vec<_> = written.iter().map(|(h, files)| json!({ "host": h.name, "written": files })).collect();
        ctx.printer.json(&v);
    } else {
        for (h, files) in &written {
            let files: Vec<String> = files.iter().map(|f| format!("shared/{}", f.escape_debug())).collect();
            ctx.printer.out(&format!("{}: wrote {}", h.name, files.join(", ")));
        }
    }
    Ok(())
}

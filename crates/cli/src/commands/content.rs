//! `haul content sync`: judges the request (direction, protection) before
//! touching a host, runs it through `haul-content`, and prints what each
//! set moved.

use super::Ctx;
use crate::error::Result;

pub async fn sync(ctx: &Ctx, request: haul_content::Request) -> Result {
    let config = ctx.config()?;
    // Judged on the config before the engine (and any connection) exists.
    request.plan(&config)?;
    let mut engine = ctx.engine(config);
    engine.reason = request.reason.clone();
    let config = engine.config.clone();
    let plan = request.plan(&config)?;
    if let Some(reason) = &plan.forced {
        ctx.printer.err(&format!("warning: syncing into protected environment `{}`: {reason}", plan.to));
    }
    let sets: Vec<&str> = plan.sets.iter().map(|(n, _)| n.as_str()).collect();
    ctx.printer.err(&format!("==> content {} → {}: {}", plan.from, plan.to, sets.join(", ")));
    let done = haul_content::sync(&engine, &plan).await?;
    for s in &done {
        if let Some(n) = s.files_sent {
            ctx.printer.out(&format!(
                "{}: {} ({}) → {} ({}): {n} files sent, {} bytes in {:.2}s",
                s.name,
                plan.from,
                s.from_host,
                plan.to,
                s.to_host,
                s.exported,
                s.elapsed.as_secs_f64()
            ));
            continue;
        }
        ctx.printer.out(&format!(
            "{}: {} ({}) → {} ({}): {} bytes exported, {} imported in {:.2}s, blake3 {}",
            s.name,
            plan.from,
            s.from_host,
            plan.to,
            s.to_host,
            s.exported,
            s.imported,
            s.elapsed.as_secs_f64(),
            s.import_digest
        ));
    }
    Ok(())
}

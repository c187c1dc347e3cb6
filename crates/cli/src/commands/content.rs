//! `haul content sync`: judges the request (direction, protection) before
//! touching a host, asks the ledger whether it will take the record (a
//! server judges protection by its own config and the token's scopes),
//! runs it through `haul-content`, prints what each set moved, and records
//! the outcome, failed or not.

use super::Ctx;
use crate::error::{Failure, Result};
use haul_content::SetOutcome;
use haul_ledger::{ContentOutcome, NewContentSync};

pub async fn sync(ctx: &Ctx, request: haul_content::Request) -> Result {
    let config = ctx.config()?;
    // Judged on the config before the ledger, the engine or any connection.
    let plan = request.plan(&config)?;
    let mut record = NewContentSync {
        app: plan.app.clone(),
        from_env: plan.from.clone(),
        to_env: plan.to.clone(),
        sets: plan.sets.iter().map(|(n, _)| n.clone()).collect(),
        actor: haul_deploy::Whoami::current().user,
        reason: request.reason.clone().filter(|r| !r.trim().is_empty()),
        forced: plan.forced.is_some(),
        outcome: ContentOutcome::Succeeded,
        bytes: 0,
        digests: Default::default(),
        error: None,
    };
    drop(plan);
    let client = haul_record::open(&config).await?;
    client.may_sync_content(&record).await?;
    let mut engine = ctx.engine(config);
    engine.reason = request.reason.clone();
    let config = engine.config.clone();
    let plan = request.plan(&config)?;
    if let Some(reason) = &plan.forced {
        ctx.printer.err(&format!("warning: syncing into protected environment `{}`: {reason}", plan.to));
    }
    ctx.printer.err(&format!("==> content {} → {}: {}", plan.from, plan.to, record.sets.join(", ")));
    let mut done = Vec::new();
    let result = haul_content::sync(&engine, &plan, &mut done).await;
    for s in &done {
        ctx.printer.out(&line(&plan.from, &plan.to, s));
    }
    record.bytes = done.iter().map(|s| s.imported as i64).sum();
    record.digests = done.iter().map(|s| (s.name.clone(), s.import_digest.clone())).collect();
    if let Err(e) = &result {
        record.outcome = ContentOutcome::Failed;
        record.error = Some(e.to_string());
    }
    let recorded = client.record_content_sync(&record).await;
    match (result, recorded) {
        (Err(e), Ok(_)) => Err(e.into()),
        (Err(e), Err(r)) => Err(Failure::Run(format!("{e}\n(and the ledger did not record it: {r})"))),
        (Ok(()), Err(r)) => Err(Failure::Run(format!("the sync ran, but the ledger did not record it: {r}"))),
        (Ok(()), Ok(id)) => {
            ctx.printer.err(&format!("recorded as content sync {id}"));
            Ok(())
        }
    }
}

fn line(from: &str, to: &str, s: &SetOutcome) -> String {
    let hosts = format!("{}: {from} ({}) → {to} ({})", s.name, s.from_host, s.to_host);
    let secs = s.elapsed.as_secs_f64();
    match s.files_sent {
        Some(n) => format!("{hosts}: {n} files sent, {} bytes in {secs:.2}s", s.exported),
        None => format!(
            "{hosts}: {} bytes exported, {} imported in {secs:.2}s, blake3 {}",
            s.exported, s.imported, s.import_digest
        ),
    }
}

//! `haul bless APP ENV [RELEASE] [--previous]`: a new signed version of
//! what a pull environment runs (`haul_pull::bless`: the newest version
//! plus one, written create-if-absent, so of two people blessing at once
//! one wins and the other is told who did). Here: the arguments and what
//! is printed.

use super::{open_store, pull_env};
use crate::commands::Ctx;
use crate::error::{Failure, Result};
use haul_pull::bless::{Bless, choose, publish};
use haul_release::ReleaseId;

pub use haul_pull::bless::Choice;

pub struct BlessArgs {
    pub release: Choice,
    pub reason: Option<String>,
    pub force: bool,
    pub json: bool,
}

pub async fn bless(ctx: &Ctx, app: &str, env: &str, args: BlessArgs) -> Result {
    let BlessArgs { release, reason, force, json } = args;
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    pull_env(&config, env)?;
    if force && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("--force needs a --reason saying why".into()));
    }
    let store = open_store(&config, true).await?;
    let id = choose(&config, &store, app, env, release).await?;
    let ledger = haul_record::open(&config).await?;
    refuse_quarantined(&ledger, app, env, &id, force).await?;
    let by = haul_deploy::Whoami::current().user;
    let b = Bless { config: &config, store: &store, app, env, by: &by, reason, deployment: None };
    let doc = publish(&*ctx.printer, &b, &id).await?;
    if json {
        ctx.printer.json(&serde_json::json!({
            "app": doc.app, "env": doc.env, "version": doc.version, "release": doc.release,
            "previous": doc.previous, "expires": doc.expires.to_string(), "by": doc.by,
        }));
    } else {
        ctx.printer.out(&format!(
            "blessed {app} {} for {env}: version {} (expires {})",
            doc.release, doc.version, doc.expires
        ));
    }
    Ok(())
}

/// Refuses a quarantined release unless forced, as the gate does for push
/// (`haul_pull::bless::refuse_quarantined`, with the ledger's list).
pub async fn refuse_quarantined(
    ledger: &haul_record::Client,
    app: &str,
    env: &str,
    id: &ReleaseId,
    force: bool,
) -> Result {
    let q = ledger.quarantined(app, env).await?;
    Ok(haul_pull::bless::refuse_quarantined(&q, app, env, id, force)?)
}

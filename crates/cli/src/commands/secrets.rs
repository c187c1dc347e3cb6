//! Secret files from the command line: `haul secrets push` (the files of an
//! app written to an environment's hosts without a deploy, after a password
//! changed, say), and the keyed digests a deploy or a push records and
//! `haul status` compares with what the sources give now. Prints file
//! names and "same"/"differs" only; values and digests never reach the
//! printer.
//!
//! The digests live in a database ledger (`haul_ledger`'s `secrets`, which
//! says why they are keyed); a ledger reached through `haul server` keeps
//! none, and status says so.

use super::Ctx;
use crate::error::Result;
use haul_deploy::{DeployReport, Engine};
use haul_ledger::Ledger;
use serde_json::json;
use std::collections::BTreeMap;

/// Per host, each secret file and how it compares (`"same"`, `"differs"`,
/// `"unrecorded"`); or why no comparison could be made.
pub(super) type Compared = std::result::Result<BTreeMap<String, Vec<(String, &'static str)>>, String>;

/// The database ledger that keeps secret digests: `None` when the ledger is
/// a `haul server`.
pub(super) async fn digest_ledger(config: &haul_config::Config) -> Result<Option<Ledger>> {
    let url = config.ledger_url();
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(None);
    }
    Ok(Some(Ledger::open(&url).await.map_err(haul_record::RecordError::from)?))
}

/// Gives `engine` the ledger's key, when `app` has secret files in `env`
/// and the ledger keeps digests.
pub(super) async fn arm(engine: &mut Engine, app: &str, env: &str) -> Result<Option<Ledger>> {
    if engine.config.secrets(app, env).is_empty() {
        return Ok(None);
    }
    let Some(ledger) = digest_ledger(&engine.config).await? else { return Ok(None) };
    engine.secret_key = Some(ledger.secret_key().await.map_err(haul_record::RecordError::from)?);
    Ok(Some(ledger))
}

/// Records the digests of the secret files each host of `report` was given.
pub(super) async fn record(ledger: &Ledger, engine: &Engine, report: &DeployReport) -> Result {
    for h in report.hosts.iter().filter(|h| !h.secrets.is_empty()) {
        ledger
            .record_secrets(&report.app, &report.env, &h.host, &h.secrets, &engine.who.user)
            .await
            .map_err(haul_record::RecordError::from)?;
    }
    Ok(())
}

pub async fn push(ctx: &Ctx, app: &str, env: &str, only: &[String], json: bool) -> Result {
    let mut engine = ctx.engine(ctx.config()?);
    let ledger = arm(&mut engine, app, env).await?;
    let written = engine.push_secrets(app, env, only).await?;
    if let Some(ledger) = &ledger {
        for (h, files) in &written {
            let digests: Vec<(String, String)> =
                files.iter().filter_map(|(p, d)| d.clone().map(|d| (p.clone(), d))).collect();
            ledger
                .record_secrets(app, env, &h.name, &digests, &engine.who.user)
                .await
                .map_err(haul_record::RecordError::from)?;
        }
    }
    if json {
        let v: Vec<_> = written
            .iter()
            .map(|(h, files)| json!({ "host": h.name, "written": files.iter().map(|(p, _)| p).collect::<Vec<_>>() }))
            .collect();
        ctx.printer.json(&v);
    } else {
        for (h, files) in &written {
            let files: Vec<String> = files.iter().map(|(f, _)| format!("shared/{}", f.escape_debug())).collect();
            ctx.printer.out(&format!("{}: wrote {}", h.name, files.join(", ")));
        }
    }
    Ok(())
}

/// How each host's secret files compare with their sources now, by host:
/// `(path, "same" | "differs" | "unrecorded")`, or one word for every host
/// when the comparison cannot be made (`"no digests"` through a server,
/// `"source failed: …"`). Empty when the app has no secret files there.
pub(super) async fn compare(
    engine: &Engine,
    ledger: Option<&Ledger>,
    app: &str,
    env: &str,
    hosts: &[String],
) -> Result<Compared> {
    if engine.config.secrets(app, env).is_empty() {
        return Ok(Ok(BTreeMap::new()));
    }
    let Some(ledger) = ledger else {
        return Ok(Err("secret digests are kept only by a database ledger".into()));
    };
    let values = match haul_deploy::secrets::read_all(&engine.config, app, env).await {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("cannot compare secrets: {}", e.why))),
    };
    let key = ledger.secret_key().await.map_err(haul_record::RecordError::from)?;
    let recorded = ledger.secret_digests(app, env).await.map_err(haul_record::RecordError::from)?;
    let mut out = BTreeMap::new();
    for host in hosts {
        let per: Vec<(String, &'static str)> = values
            .iter()
            .map(|v| {
                let now = v.digest(&key, app, env);
                let had = recorded.iter().find(|r| r.host == *host && r.path == v.secret.path);
                let state = match had {
                    None => "unrecorded",
                    Some(r) if r.digest == now => "same",
                    Some(_) => "differs",
                };
                (v.secret.path.clone(), state)
            })
            .collect();
        out.insert(host.clone(), per);
    }
    Ok(Ok(out))
}

/// One host's part of [`compare`]'s answer: its JSON (`null` without
/// secret files) and a note when something is not the same.
pub(super) fn status_of(compared: &Compared, host: &str) -> (serde_json::Value, Option<String>) {
    match compared {
        Err(why) => (json!({ "error": why }), Some(why.clone())),
        Ok(m) => match m.get(host) {
            None => (serde_json::Value::Null, None),
            Some(files) => {
                let v: Vec<_> = files.iter().map(|(p, s)| json!({ "path": p, "state": s })).collect();
                let off: Vec<String> =
                    files.iter().filter(|(_, s)| *s != "same").map(|(p, s)| format!("{p} {s}")).collect();
                let note = (!off.is_empty()).then(|| format!("secrets: {}", off.join(", ")));
                (json!(v), note)
            }
        },
    }
}

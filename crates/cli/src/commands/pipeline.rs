//! `haul pipeline <app>`: the app's environments in promotion order, what
//! waits where and what it lacks, and the DORA measures, read through the
//! ledger client (over a database by `haul_server::pipeline::read`, through
//! a `haul server` by its route: the same reading either way).

use super::Ctx;
use crate::error::{Failure, Result};
use haul_api::pipeline::{Dora, Pipeline, Stage, span};

pub async fn pipeline(ctx: &Ctx, app: &str, days: u32, json: bool) -> Result {
    let config = ctx.config()?;
    config.app(app).map_err(|e| Failure::Usage(e.to_string()))?;
    let ledger = haul_record::open(&config).await?;
    let p = ledger.pipeline(&config, app, days).await?;
    if json {
        ctx.printer.json(&p);
    } else {
        ctx.printer.out(text(&p, days).trim_end());
    }
    Ok(())
}

fn dora(d: &Dora) -> String {
    let or = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let unrestored = if d.unrestored > 0 { format!(" ({} not restored)", d.unrestored) } else { String::new() };
    format!(
        "{} live of {} changes ({:.2}/day) · lead time {} · change failure rate {} · time to restore {}{unrestored}",
        d.went_live,
        d.changes,
        d.per_day,
        or(d.lead_time_s.map(span)),
        or(d.change_failure_rate.map(|r| format!("{:.0}%", r * 100.0))),
        or(d.time_to_restore_s.map(span)),
    )
}

fn stage(app: &str, s: &Stage, out: &mut String) {
    let mut head = vec![match &s.upstream {
        Some(up) => format!("code from {up}"),
        None => "builds".into(),
    }];
    head.push(format!("content from {}", s.content));
    if s.protected {
        head.push("protected".into());
    }
    if s.mode == "pull" {
        head.push("pull".into());
    }
    for g in &s.groups {
        head.push(format!("group {g}"));
    }
    out.push_str(&format!("{}  ({})\n", s.env, head.join(" · ")));
    match &s.live {
        Some(l) => out.push_str(&format!(
            "  runs     {} (deployment {}){} · {}\n",
            l.release,
            l.deployment,
            l.since.as_ref().map(|t| format!(" since {t}")).unwrap_or_default(),
            match l.verified.as_str() {
                "passed" => "verified".to_string(),
                "failed" => "verification failed".to_string(),
                _ => "not verified".to_string(),
            }
        )),
        None => out.push_str("  runs     nothing yet\n"),
    }
    if let Some(r) = s.running {
        out.push_str(&format!("  running  deployment {r}\n"));
    }
    match &s.waiting {
        Some(w) => {
            let verdict = if w.qualifies { "qualifies" } else { "blocked" };
            out.push_str(&format!(
                "  waiting  {} (upstream deployment {}): {verdict}\n",
                w.release, w.upstream_deployment
            ));
            for l in &w.lacks {
                out.push_str(&format!("           - {l}\n"));
            }
        }
        None if s.upstream.is_some() => out.push_str("  waiting  nothing: it runs the newest release upstream\n"),
        None => {}
    }
    if let Some(p) = &s.promotable {
        out.push_str(&format!("  promote  `haul promote {app} --to {}` would deploy {p}\n", s.env));
    }
    match &s.last_sync {
        Some(c) => out
            .push_str(&format!("  content  last synced from {} ({}) at {}: {}\n", c.from_env, c.sets, c.at, c.outcome)),
        None => out.push_str("  content  never synced\n"),
    }
    for sub in &s.subsets {
        out.push_str(&format!("  subset   {}: {}\n", sub.set, sub.description));
    }
    out.push_str(&format!("  dora     {}\n", dora(&s.dora)));
}

fn text(p: &Pipeline, days: u32) -> String {
    let mut out = format!("{}: environments in promotion order; DORA over the last {days} days\n\n", p.app);
    for s in &p.environments {
        stage(&p.app, s, &mut out);
        out.push('\n');
    }
    out
}

//! `haul status` for a pull environment: what each agent reports (its
//! release, wave, phase and last contact), drift from the blessing, and
//! agents that have gone silent.

use super::{ago, open_store, read_blessing, trust};
use crate::error::Result;
use haul_config::Config;
use serde_json::{Value, json};

/// What [`rows`] gives for one app in one pull environment.
pub struct Rows {
    /// Table rows: APP, ENV, HOST, LIVE, NOTE.
    pub table: Vec<Vec<String>>,
    /// One JSON object per host.
    pub json: Vec<Value>,
    /// Reports not taken (unreadable, unsealed, forged), each named: one
    /// bad writer hides no other host.
    pub unread: Vec<String>,
}

/// One app in one pull environment as `haul status` prints it.
pub async fn rows(config: &Config, app: &str, env: &str) -> Result<Rows> {
    let store = open_store(config, false).await?;
    let trust = trust(config)?;
    let silent_after = config.environments[env].silent_after().0;
    let blessed = match haul_store::blessings::latest(&store, app, env).await? {
        Some((v, bytes)) => read_blessing(&bytes, trust.as_ref(), app, env).ok().map(|r| (v, r)),
        None => None,
    };
    let release = blessed.as_ref().map(|(_, r)| r.doc.release.to_string());
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let reporters = haul_pull::reporters_for(config, env, blessed.as_ref().map(|(_, r)| r))?;
    let read = haul_store::reports::read_each(&store, app, env, &reporters).await?;
    for r in read.reports {
        let silent = now.duration_since(r.at).as_secs() as u64 > silent_after.as_secs();
        let drift = release.is_some() && r.live != release;
        let phase = haul_pull::phase(r.phase);
        let mut note = vec![format!(
            "pull: wave {}, {phase}, last contact {}",
            super::wave_name(blessed.as_ref().map(|(_, b)| &b.doc), r.wave),
            ago(r.at, now)
        )];
        if silent {
            note.push("SILENT".into());
        }
        if drift {
            note.push(format!("drift: blessed {}", release.as_deref().unwrap_or("nothing")));
        }
        if let Some(e) = &r.error {
            note.push(e.lines().next().unwrap_or_default().to_string());
        }
        out.push(json!({
            "app": app, "env": env, "host": r.host, "mode": "pull", "live": r.live,
            "blessed": release, "blessing": blessed.as_ref().map(|(v, _)| v), "wave": r.wave,
            "wave_name": super::wave_name(blessed.as_ref().map(|(_, b)| &b.doc), r.wave),
            "phase": r.phase, "last_contact": r.at.to_string(), "silent": silent, "drift": drift,
            "error": r.error,
        }));
        rows.push(vec![
            app.to_string(),
            env.to_string(),
            r.host.clone(),
            r.live.clone().unwrap_or_else(|| "-".into()),
            note.join("; "),
        ]);
    }
    let unread = read.problems.iter().map(|u| format!("a report of {app} in {env} is not taken: {u}")).collect();
    Ok(Rows { table: rows, json: out, unread })
}

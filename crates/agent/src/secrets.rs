//! A pull agent's secret files: fetched from `haul server`
//! (`GET /api/v1/agents/secrets`, with the agent's token, which the server
//! lets fetch them only when its `secrets` names this environment) and
//! written under `shared/` before migrations and the switch, by the same
//! `HostApp::write_secret` as push deploys (the value on the script's
//! standard input, atomic, 0600 from the first byte, the path checked again
//! there). The signed blessing names the files (never their values); a
//! blessing that names none asks nothing, one that names some without
//! `HAUL_LEDGER` set stops the round before the switch.
//! No value is logged, kept in the agent's state or reported.

use crate::sync::{AppRun, Stop};
use base64::Engine as _;
use haul_api::secrets::SecretFiles;
use haul_host::SecretFile;

/// Fetches and writes this app's secret files; a failure stops the round
/// before the switch, naming what failed (never a value).
pub(crate) async fn write(r: &mut AppRun<'_>, b: &haul_bless::Blessing, token: &str) -> Result<(), Stop> {
    let wanted = &b.steps.secrets;
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(poster) = &r.agent.poster else {
        return Err(Stop::Failed(format!(
            "the blessing names secret files ({}), which come from `haul server`: set HAUL_LEDGER and a token whose `secrets` lists this environment",
            wanted.join(", ")
        )));
    };
    let env = &r.agent.config.env;
    let fail = |why: String| Stop::Failed(format!("secret files from {}: {why}", poster.base));
    // Names of apps and environments are plain words (letters, digits,
    // `-`, `_`, `.`): nothing in them needs escaping in a query.
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain(r.app) || !plain(env) {
        return Err(fail(format!("`{}` or `{env}` is not a plain name", r.app)));
    }
    let res = poster
        .http
        .get(format!("{}/api/v1/agents/secrets?app={}&env={env}", poster.base, r.app))
        .bearer_auth(&poster.token)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(fail(format!("HTTP {status}: {}", message.chars().take(500).collect::<String>())));
    }
    let files: SecretFiles = serde_json::from_slice(&body).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    // Exactly what the signed blessing names: the server's answer neither
    // drops one nor adds another.
    let mut got: Vec<&str> = files.files.iter().map(|f| f.path.as_str()).collect();
    let mut want: Vec<&str> = wanted.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        return Err(fail(format!("the server gave {got:?}, the blessing names {want:?}")));
    }
    let host = r.host().clone();
    for f in &files.files {
        let value = base64::engine::general_purpose::STANDARD
            .decode(&f.value)
            .map_err(|_| fail(format!("the value of `{}` is not base64", f.path.escape_debug())))?;
        if f.mode & !0o660 != 0 || f.mode & 0o400 == 0 {
            return Err(fail(format!(
                "`{}` has mode {:o}, which haul never gives a secret",
                f.path.escape_debug(),
                f.mode
            )));
        }
        let file = SecretFile { path: &f.path, mode: f.mode, owner: f.owner.as_deref(), group: f.group.as_deref() };
        host.write_secret(&file, value, token).await.map_err(|e| Stop::Failed(e.to_string()))?;
    }
    Ok(())
}

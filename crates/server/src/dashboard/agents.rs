//! `/agents/{app}/{env}`: the agents of a pull environment, as their
//! reports left them. A pull deploy has no host list to watch, so this
//! page is where people see which hosts run the blessed release, which
//! drift and which have gone silent. Every field here came from an agent
//! and is untrusted text; maud escapes it.

use super::Viewer;
use super::layout::*;
use crate::State;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use maud::html;

pub(crate) fn agents_href(app: &str, env: &str) -> String {
    format!("/agents/{}/{}", super::encode(app), super::encode(env))
}

pub(crate) async fn agents(who: Viewer, S(state): S<State>, p: Result<Path<(String, String)>, PathRejection>) -> Page {
    let (app, env) = p.map(|Path(t)| t).unwrap_or_default();
    let Ok(e) = crate::agents::found_pull_env(&state, &app, &env) else {
        return Err(not_found(&who, &format!("There is no pull environment {env:?} for app {app:?} in haul.toml.")));
    };
    let rows = crate::agents::listed(&state, e, &app, &env).await.map_err(failed(&who))?;
    let silent = rows.iter().filter(|a| a.silent).count();
    let now = jiff::Timestamp::now();
    let body = html! {
        h1 { "Agents of " (app) " in " (env) }
        p #agent-counts { (rows.len()) " agents, " (silent) " silent" }
        @if rows.is_empty() {
            p.muted { "No agent has reported yet." }
        } @else {
            div.scroll {
                table.list #agents {
                    thead { tr { th { "host" } th { "roles" } th { "wave" } th { "live" } th { "blessed" } th { "phase" } th { "error" } th { "last contact" } th { "" } } }
                    tbody {
                        @for a in &rows {
                            @let drift = a.live.is_some() && a.live != a.release;
                            tr.silent[a.silent] {
                                td { a href=(host_href(&a.host)) { (a.host) } }
                                td { @if a.roles.is_empty() { "—" } @else { (a.roles.join(", ")) } }
                                td { @if let Some(w) = a.wave { (w) } @else { "—" } }
                                td.mono.drift[drift] { (a.live.as_deref().unwrap_or("—")) @if drift { " (drift)" } }
                                td.mono { (a.release.as_deref().unwrap_or("—")) }
                                td { (a.phase) }
                                td.error { (a.error.as_deref().unwrap_or("")) }
                                td { @match a.at.parse::<jiff::Timestamp>() {
                                    Ok(t) => { (ago(now.duration_since(t).as_secs())) },
                                    Err(_) => { (a.at) },
                                } }
                                td { @if a.silent { strong.silent-mark { "SILENT" } } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(StatusCode::OK, &format!("Agents {app} {env}"), Some(&who), body))
}

//! `/hosts/{name}`: how a host is reached, what runs on it and which
//! deployments touched it.

use super::Viewer;
use super::layout::*;
use crate::State;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use haul_ledger::HostDeployment;
use maud::{Markup, html};

fn host_rows(rows: &[HostDeployment], landed: bool) -> Markup {
    html! {
        tbody {
            @for hd in rows {
                @let d = &hd.deployment;
                tr {
                    @if landed {
                        td { (d.app) }
                        td.mono.release-id { (d.release) }
                        td { a href=(deployment_href(d.id)) { "#" (d.id) } }
                        td { (d.env) }
                        td { (d.actor) }
                        td { (when(d.finished.unwrap_or(d.started))) }
                    } @else {
                        td { a href=(deployment_href(d.id)) { "#" (d.id) } }
                        td { (d.app) }
                        td { (d.env) }
                        td.mono { (d.release) }
                        td { (d.trigger.as_str()) }
                        td { (d.actor) }
                        td { (status_badge(d.status)) }
                        td { (hd.result.phase) }
                        td { (host_status_badge(hd.result.status)) }
                        td.error { (hd.result.error.as_deref().unwrap_or("")) }
                        td { (when(d.started)) }
                    }
                }
            }
        }
    }
}

pub(crate) async fn host(who: Viewer, S(state): S<State>, name: Result<Path<String>, PathRejection>) -> Page {
    let name = name.map(|Path(s)| s).unwrap_or_default();
    let f = failed(&who);
    let configured = state.config.hosts.contains_key(name.as_str());
    if !configured && !state.ledger.host_known(&name).await.map_err(&f)? {
        return Err(not_found(&who, &format!("There is no host {name:?} in haul.toml or the ledger.")));
    }
    let landed = state.ledger.landed_on_host(&name).await.map_err(&f)?;
    let history = state.ledger.host_history(&name, 30).await.map_err(&f)?;
    let target = configured.then(|| state.config.host_target(&name));
    let envs: Vec<String> = state
        .config
        .environments
        .iter()
        .filter(|(_, e)| e.hosts.iter().any(|h| h.get_ref() == &name))
        .map(|(n, _)| n.get_ref().clone())
        .collect();
    let body = html! {
        h1 { "Host " (name) }
        dl.facts {
            @if let Some(t) = &target {
                dt { "reached" } dd {
                    @match &t.reach {
                        haul_config::Reach::Local => { "local, root " span.mono { (t.root) } },
                        haul_config::Reach::Ssh { address, user, port, .. } => {
                            "ssh " span.mono {
                                @if let Some(u) = user { (u) "@" }
                                (address)
                                @if let Some(p) = port { ":" (p) }
                            }
                            ", root " span.mono { (t.root) }
                        },
                    }
                }
                dt { "roles" } dd { @if t.roles.is_empty() { "—" } @else { (t.roles.join(", ")) } }
            } @else {
                dt { "config" } dd.muted { "not in haul.toml any more" }
            }
            dt { "environments" } dd { @if envs.is_empty() { "—" } @else { (envs.join(", ")) } }
        }
        h2 { "What runs here" }
        @if landed.is_empty() {
            p.muted { "No release has landed here." }
        } @else {
            table.list #landed {
                thead { tr { th { "app" } th { "release" } th { "deployment" } th { "env" } th { "by" } th { "when" } } }
                (host_rows(&landed, true))
            }
        }
        h2 { "Recent deployments" }
        @if history.is_empty() {
            p.muted { "No deployment has touched this host." }
        } @else {
            div.scroll {
                table.list #history {
                    thead { tr { th { "#" } th { "app" } th { "env" } th { "release" } th { "trigger" } th { "by" } th { "deployment" } th { "reached" } th { "here" } th { "error" } th { "started" } } }
                    (host_rows(&history, false))
                }
            }
        }
    };
    Ok(render(StatusCode::OK, &format!("Host {name}"), Some(&who), body))
}

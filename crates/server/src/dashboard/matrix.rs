//! `/`: the apps × environments matrix (what is live, when, by whom,
//! verified or not, which hosts drift, what runs now) and the recent
//! deployments.

use super::Viewer;
use super::layout::*;
use crate::State;
use axum::extract::State as S;
use axum::http::StatusCode;
use haul_ledger::{Deployment, LedgerError, Verification};
use maud::{Markup, html};
use std::collections::BTreeMap;

/// The hosts of `env` that receive `app` (none when its roles leave none).
fn app_hosts(state: &State, app: &str, env: &str) -> Vec<String> {
    state.config.app_hosts(app, env, &[]).map(|hs| hs.into_iter().map(|h| h.name).collect()).unwrap_or_default()
}

pub(crate) fn upstream(state: &State, env: &str) -> Option<String> {
    state.config.upstream(env)
}

struct Cell {
    env: String,
    hosts: Vec<String>,
    live: Option<Deployment>,
    verifications: Vec<Verification>,
    /// Hosts whose newest landed release is not the live one, with what
    /// they run (None: nothing landed).
    drift: Vec<(String, Option<String>)>,
    running: Option<Deployment>,
    upstream: Option<String>,
    /// For a pull environment: how many agents reported, how many are silent.
    agents: Option<(usize, usize)>,
}

async fn cell(state: &State, app: &str, env: &str) -> Result<Cell, LedgerError> {
    let hosts = app_hosts(state, app, env);
    let live = state.ledger.live(app, env).await?;
    let running = state.ledger.running(app, env).await?;
    let (verifications, drift) = match &live {
        Some(d) => {
            let landed: BTreeMap<String, String> = state
                .ledger
                .landed(app, &hosts)
                .await?
                .into_iter()
                .map(|hd| (hd.result.host, hd.deployment.release.into_string()))
                .collect();
            let drift = hosts
                .iter()
                .filter(|h| landed.get(*h).map(String::as_str) != Some(d.release.as_str()))
                .map(|h| (h.clone(), landed.get(h).cloned()))
                .collect();
            (state.ledger.verifications(d.id).await?, drift)
        }
        None => (Vec::new(), Vec::new()),
    };
    let agents = match crate::agents::found_pull_env(state, app, env) {
        Ok(e) => {
            let rows = crate::agents::listed(state, e, app, env).await?;
            Some((rows.len(), rows.iter().filter(|a| a.silent).count()))
        }
        Err(_) => None,
    };
    Ok(Cell {
        env: env.to_string(),
        hosts,
        live,
        verifications,
        drift,
        running,
        upstream: upstream(state, env),
        agents,
    })
}

fn cell_html(app: &str, c: &Cell) -> Markup {
    html! {
        td.cell data-app=(app) data-env=(c.env) {
            @if c.hosts.is_empty() {
                span.muted { "no hosts of this environment have the app's roles" }
            } @else if let Some(d) = &c.live {
                div.release { a.release-id href=(deployment_href(d.id)) title="the live release" { (d.release) } }
                div.meta {
                    (d.trigger.as_str()) " by " strong.actor { (d.actor) } " · "
                    (when(d.finished.unwrap_or(d.started)))
                }
                div.meta { (verified(&c.verifications)) }
                div.meta {
                    @if c.drift.is_empty() {
                        span.badge.ok.drift title="every host runs the live release" { "drift 0" }
                    } @else {
                        span.badge.warn.drift { "drift " (c.drift.len()) }
                        " " span.names {
                            @for (i, (h, runs)) in c.drift.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href=(host_href(h)) { (h) }
                                " "
                                @match runs {
                                    Some(r) => span.muted { "runs " (r) },
                                    None => span.muted { "has nothing" },
                                }
                            }
                        }
                    }
                }
            } @else {
                span.muted { "never deployed" }
            }
            @if let Some(r) = &c.running {
                div.running {
                    span.badge.run { "running" } " "
                    a href=(deployment_href(r.id)) { "#" (r.id) } " " (r.trigger.as_str()) " of " (r.release)
                    " by " (r.actor) " since " (when(r.started))
                }
            }
            @if let Some((n, silent)) = c.agents {
                div.links { a.agents href=(super::agents::agents_href(app, &c.env)) { (n) " agents, " (silent) " silent →" } }
            }
            @if c.upstream.is_some() {
                div.links { a.promotion href=(promotion_href(app, &c.env)) { "promotion from " (c.upstream.as_deref().unwrap_or_default()) " →" } }
            }
        }
    }
}

fn deployments_table(ds: &[Deployment]) -> Markup {
    html! {
        table.list {
            thead { tr { th { "#" } th { "app" } th { "env" } th { "release" } th { "trigger" } th { "by" } th { "status" } th { "started" } th { "took" } } }
            tbody {
                @for d in ds {
                    tr {
                        td { a href=(deployment_href(d.id)) { "#" (d.id) } }
                        td { (d.app) }
                        td { (d.env) }
                        td.mono { (d.release) }
                        td { (d.trigger.as_str()) }
                        td { (d.actor) }
                        td { (status_badge(d.status)) }
                        td { (when(d.started)) }
                        td { (duration_between(d.started, d.finished).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

pub(crate) async fn matrix(who: Viewer, S(state): S<State>) -> Page {
    let head = state.ledger.last_event().await.map_err(failed(&who))?;
    let envs = state.config.promotion_order();
    let mut rows = Vec::new();
    for app in state.config.apps.keys() {
        let app = app.get_ref();
        let mut cells = Vec::new();
        for env in &envs {
            cells.push(cell(&state, app, env).await.map_err(failed(&who))?);
        }
        rows.push((app.clone(), cells));
    }
    let recent = state.ledger.deployments(None, None, 20).await.map_err(failed(&who))?;
    let body = html! {
        div data-live="" data-after=(head) {}
        h1 { "What runs where" }
        @if rows.is_empty() || envs.is_empty() {
            p.muted { "haul.toml has no apps or no environments yet." }
        } @else {
            div.scroll {
                table.matrix {
                    thead {
                        tr {
                            th { "app" }
                            @for env in &envs {
                                th {
                                    div.env { (env) }
                                    div.muted.small {
                                        @match upstream(&state, env) {
                                            Some(u) => { "code from " (u) },
                                            None => { "builds" },
                                        }
                                    }
                                    div.small.hosts {
                                        @for h in state.config.environments.get(env.as_str()).map(|e| e.hosts.as_slice()).unwrap_or_default() {
                                            a href=(host_href(h.get_ref())) { (h.get_ref()) } " "
                                        }
                                    }
                                }
                            }
                        }
                    }
                    tbody {
                        @for (app, cells) in &rows {
                            tr {
                                th.app scope="row" {
                                    (app)
                                    div.small { a.pipeline href=(super::pipeline::pipeline_href(app)) { "pipeline →" } }
                                }
                                @for c in cells { (cell_html(app, c)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Recent deployments" }
        @if recent.is_empty() { p.muted { "Nothing has been deployed yet." } } @else { (deployments_table(&recent)) }
    };
    Ok(render(StatusCode::OK, "Matrix", Some(&who), body))
}

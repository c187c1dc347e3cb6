//! `/deployments/{id}`: one deployment, each host's progress through the
//! phases (the columns are `haul_api::Phase::ALL`), its verifications.

use super::Viewer;
use super::actions::hidden;
use super::layout::*;
use super::matrix::upstream;
use crate::State;
use crate::auth::{Deploy, Verify};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use haul_api::{HostStatus, Phase};
use haul_ledger::HostResult;
use maud::{Markup, html};

/// Where `phase` stands for host `h`: passed, reached (and how it ended
/// there), nothing to do past a finished host's last phase, or not reached.
/// A phase the vocabulary does not know is never reached.
fn phase_cell(h: &HostResult, phase: Phase) -> Markup {
    let reached = Some(h.phase);
    let status = Some(h.status);
    let done = matches!(status, Some(HostStatus::Ok | HostStatus::Unchanged));
    let (class, mark, title) = match reached {
        Some(r) if phase < r => ("ok", "✓", "passed"),
        Some(r) if phase == r => match status {
            Some(HostStatus::Ok | HostStatus::Unchanged) => ("ok", "✓", "reached"),
            Some(HostStatus::Failed) => ("bad", "✗", "failed here"),
            Some(HostStatus::SwitchedBack) => ("warn", "↩", "switched back here"),
            _ => ("muted", "•", "stopped here"),
        },
        Some(_) if done => ("muted", "–", "nothing to do"),
        _ => ("muted", "·", "not reached"),
    };
    html! { td class={"phase " (class)} title=(title) { (mark) } }
}

pub(crate) async fn deployment(who: Viewer, S(state): S<State>, id: Result<Path<String>, PathRejection>) -> Page {
    let raw = id.map(|Path(s)| s).unwrap_or_default();
    let Ok(id) = raw.parse::<i64>() else {
        return Err(not_found(&who, &format!("There is no deployment {raw:?}: deployments are numbered.")));
    };
    let f = failed(&who);
    let head = state.ledger.last_event().await.map_err(&f)?;
    let d = state.ledger.deployment(id).await.map_err(&f)?;
    let hosts = state.ledger.host_results(id).await.map_err(&f)?;
    let verifications = state.ledger.verifications(id).await.map_err(&f)?;
    let undone_by = state.ledger.undone_by(id).await.map_err(&f)?;
    let columns = Phase::ALL;
    let back = deployment_href(d.id);
    let live = state.ledger.live(&d.app, &d.env).await.map_err(&f)?.is_some_and(|l| l.id == d.id);
    let env = state.config.environments.get(d.env.as_str());
    let pull = env.is_some_and(|e| e.mode() == haul_config::Mode::Pull);
    let protected = env.is_some_and(haul_config::Environment::protected);
    let body = html! {
        div data-live=(format!("app={}&env={}", super::encode(&d.app), super::encode(&d.env))) data-after=(head) {}
        h1 { "Deployment #" (d.id) " " (status_badge(d.status)) }
        p.lead { (d.trigger.as_str()) " of " strong { (d.app) } " to " strong { (d.env) } " by " strong { (d.actor) } }
        dl.facts {
            dt { "release" } dd.mono #release { (d.release) }
            dt { "trigger" } dd { (d.trigger.as_str()) }
            dt { "actor" } dd { (d.actor) }
            dt { "reason" } dd { (d.reason.as_deref().unwrap_or("—")) }
            dt { "status" } dd { (status_badge(d.status)) }
            @if let Some(m) = &d.message { dt { "message" } dd { pre.message { (m) } } }
            dt { "started" } dd { (when(d.started)) }
            dt { "finished" } dd {
                @if let Some(f) = &d.finished { (when(*f)) " (took " (duration_between(d.started, Some(*f)).unwrap_or_default()) ")" } @else { "not yet" }
            }
            @if let Some(u) = d.undoes { dt { "undoes" } dd { a href=(deployment_href(u)) { "#" (u) } } }
            @if let Some(u) = undone_by { dt { "undone by" } dd { a href=(deployment_href(u)) { "#" (u) } } }
            dt { "config digest" } dd.mono.small { (d.config_digest) }
        }
        h2 { "Hosts" }
        @if hosts.is_empty() {
            p.muted { "No host results were recorded." }
        } @else {
            div.scroll {
                table.list.phases #hosts {
                    thead {
                        tr {
                            th { "host" }
                            @for p in columns { th.phase { (p) } }
                            th { "status" } th { "error" } th { "time" }
                        }
                    }
                    tbody {
                        @for h in &hosts {
                            tr data-host=(h.host) {
                                td { a href=(host_href(&h.host)) { (h.host) } }
                                @for p in columns { (phase_cell(h, *p)) }
                                td { (host_status_badge(h.status)) }
                                td.error { (h.error.as_deref().unwrap_or("")) }
                                td.num { (ms(h.elapsed_ms)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Verifications" }
        @if verifications.is_empty() {
            p.muted { "None reported." }
        } @else {
            table.list {
                thead { tr { th { "name" } th { "result" } th { "reported by" } th { "at" } th { "link" } } }
                tbody {
                    @for v in &verifications {
                        tr {
                            td { (v.name) }
                            td { (result_badge(v.result)) }
                            td { (v.reporter) }
                            td { (when(v.at)) }
                            td { @if let Some(l) = &v.link { (maybe_link(l)) } }
                        }
                    }
                }
            }
        }
        @if who.scoped::<Verify>().is_ok() && d.status.is_finished() {
            form.action.verify method="post" action="/actions/verify" {
                (hidden(&who, &back))
                input type="hidden" name="deployment" value=(d.id);
                input type="text" name="name" placeholder="what was checked (e.g. smoke)" required;
                select name="result" { option value="pass" { "pass" } option value="fail" { "fail" } option value="error" { "error" } }
                input type="text" name="reason" placeholder="why, or a link to it (recorded)" required;
                button type="submit" { "Record verification" }
            }
        }
        @if live && who.scoped::<Deploy>().is_ok() {
            form.action.rollback method="post" action="/actions/rollback" {
                (hidden(&who, &back))
                input type="hidden" name="app" value=(d.app);
                input type="hidden" name="env" value=(d.env);
                input type="text" name="reason" placeholder="why (recorded)" required;
                @if protected { input type="text" name="confirm" placeholder=(format!("type {} to confirm", d.env)) required; }
                button type="submit" { "Roll " (d.env) " back" }
            }
            @if !pull { p.muted.small { "This server runs " code { "haul rollback " (d.app) " " (d.env) } " over SSH, as from a terminal." } }
        }
        @if upstream(&state, &d.env).is_some() {
            p { a href=(promotion_href(&d.app, &d.env)) { "What may be promoted to " (d.env) " →" } }
        }
    };
    Ok(render(StatusCode::OK, &format!("Deployment #{}", d.id), Some(&who), body))
}

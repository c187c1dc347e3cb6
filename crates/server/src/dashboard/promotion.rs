//! `/promotions/{app}/{env}`: each candidate judged against each
//! requirement of the environment, and what `haul promote` would deploy.

use super::Viewer;
use super::actions::hidden;
use super::layout::*;
use super::matrix::upstream;
use crate::State;
use crate::auth::{Admin, Approve, Deploy};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use haul_ledger::{Assessment, CheckKind};
use maud::{Markup, html};

fn check_name(k: &CheckKind) -> Markup {
    match k {
        CheckKind::Quarantine => html! { "not quarantined" },
        CheckKind::Verification(n) => html! { "verification " code { (n) } },
        CheckKind::Soak => html! { "soak" },
        CheckKind::Approvals => html! { "approvals" },
    }
}

pub(crate) async fn promotion(
    who: Viewer,
    S(state): S<State>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Page {
    let (app, env) = p.map(|Path(p)| p).unwrap_or_default();
    if !state.config.apps.contains_key(app.as_str()) {
        return Err(not_found(&who, &format!("There is no app {app:?} in haul.toml.")));
    }
    let Some(e) = state.config.environments.get(env.as_str()) else {
        return Err(not_found(&who, &format!("There is no environment {env:?} in haul.toml.")));
    };
    let Some(up) = upstream(&state, &env) else {
        return Err(not_found(&who, &format!("Environment {env:?} builds its own code; nothing is promoted to it.")));
    };
    let requirements = crate::requirements(e);
    let f = failed(&who);
    let head = state.ledger.last_event().await.map_err(&f)?;
    let candidates: Vec<Assessment> = state.ledger.assess(&app, &up, &env, &requirements).await.map_err(&f)?;
    let live = state.ledger.live(&app, &env).await.map_err(&f)?;
    let next = candidates.iter().find(|c| c.qualifies()).map(|c| c.release.clone());
    let back = promotion_href(&app, &env);
    let (may_approve, may_quarantine) = (who.scoped::<Approve>().is_ok(), who.scoped::<Admin>().is_ok());
    let may_promote = who.scoped::<Deploy>().is_ok();
    let pull = e.mode() == haul_config::Mode::Pull;
    let body = html! {
        div data-live=(format!("app={}&env={}", super::encode(&app), super::encode(&env))) data-after=(head) {}
        h1 { "Promotion of " (app) " from " (up) " to " (env) }
        h2 { "What " (env) " requires" }
        ul.requirements #requirements {
            @for v in &requirements.verifications { li { "verification " code { (v) } " passed on the " (up) " deployment" } }
            @if let Some(s) = requirements.soak { li { "a soak of " (secs(s.as_secs())) " since the " (up) " deployment finished" } }
            @if requirements.approvals > 0 { li { (requirements.approvals) " approval" @if requirements.approvals != 1 { "s" } " for " (env) } }
            li { "not quarantined" }
        }
        p {
            "Live in " (env) ": "
            @match &live {
                Some(d) => { span.mono { (d.release) } " (" a href=(deployment_href(d.id)) { "#" (d.id) } ")" },
                None => { span.muted { "nothing yet" } },
            }
        }
        h2 { "Candidates from " (up) }
        @if candidates.is_empty() {
            p.muted { "No release of " (app) " has succeeded in " (up) " yet." }
        } @else {
            @match &next {
                Some(r) => p.verdict.ok { code { "haul promote " (app) " --to " (env) } " would deploy " span.mono { (r) } "." },
                None => p.verdict.bad { "No candidate may enter " (env) " yet." },
            }
            @if next.is_some() && may_promote {
                form.action.promote method="post" action="/actions/promote" {
                    (hidden(&who, &back))
                    input type="hidden" name="app" value=(app);
                    input type="hidden" name="env" value=(env);
                    input type="text" name="reason" placeholder="why (recorded)" required;
                    @if e.protected() { input type="text" name="confirm" placeholder=(format!("type {env} to confirm")) required; }
                    button type="submit" { "Promote to " (env) }
                }
                @if !pull { p.muted.small { "This server runs " code { "haul promote " (app) " --to " (env) } " over SSH, as from a terminal." } }
            }
            @for c in &candidates {
                section.candidate data-release=(c.release) {
                    h3 {
                        span.mono { (c.release) } " "
                        @if c.qualifies() { span.badge.ok { "qualifies" } } @else { span.badge.bad { "blocked" } }
                        @if live.as_ref().is_some_and(|d| d.release == c.release) { " " span.badge.run { "live in " (env) } }
                    }
                    p.muted.small {
                        "succeeded in " (up) " as " a href=(deployment_href(c.deployment)) { "deployment #" (c.deployment) }
                        @if let Some(fin) = &c.finished { ", finished " (when(*fin)) }
                    }
                    @if may_approve || may_quarantine {
                        div.actions {
                            @if may_approve {
                                form.action.approve method="post" action="/actions/approve" {
                                    (hidden(&who, &back))
                                    input type="hidden" name="app" value=(app);
                                    input type="hidden" name="env" value=(env);
                                    input type="hidden" name="release" value=(c.release);
                                    input type="text" name="reason" placeholder="why (recorded)" required;
                                    button type="submit" { "Approve for " (env) }
                                }
                            }
                            @if may_quarantine {
                                form.action.quarantine method="post" action="/actions/quarantine" {
                                    (hidden(&who, &back))
                                    input type="hidden" name="app" value=(app);
                                    input type="hidden" name="release" value=(c.release);
                                    input type="text" name="reason" placeholder="why (recorded)" required;
                                    button type="submit" { "Quarantine" }
                                }
                            }
                        }
                    }
                    @if c.checks.is_empty() {
                        p.muted { (env) " requires nothing more." }
                    } @else {
                        table.list.checks {
                            thead { tr { th { "requirement" } th { "" } th { "found" } } }
                            tbody {
                                @for ch in &c.checks {
                                    tr class=(if ch.met { "met" } else { "unmet" }) {
                                        td { (check_name(&ch.kind)) }
                                        td { @if ch.met { span.badge.ok { "met" } } @else { span.badge.bad { "unmet" } } }
                                        td { (ch.detail) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(StatusCode::OK, &format!("Promotion to {env}"), Some(&who), body))
}

//! `/pipeline/{app}`: the app's environments in promotion order, what each
//! runs and since when, what waits to enter it and what it still lacks,
//! its content source and last sync, and the DORA measures; the same
//! reading as `GET /api/v1/pipeline/{app}` and `haul pipeline`.

use super::layout::*;
use super::{Viewer, encode};
use crate::State;
use crate::pipeline::{DEFAULT_DAYS, read};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use haul_api::pipeline::{Dora, Stage, span};
use maud::{Markup, html};

pub(crate) fn pipeline_href(app: &str) -> String {
    format!("/pipeline/{}", encode(app))
}

/// A stored time as the pages show one.
fn at(text: &str) -> Markup {
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => when(t),
        Err(_) => html! { (text) },
    }
}

fn dora(d: &Dora) -> Markup {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    html! {
        dl.dora {
            dt { "deployments" } dd.frequency { (d.went_live) " live (" (format!("{:.2}", d.per_day)) "/day) of " (d.changes) " changes" }
            dt { "lead time" } dd.lead { (or_dash(d.lead_time_s.map(span))) }
            dt { "change failure rate" } dd.cfr { (or_dash(d.change_failure_rate.map(|r| format!("{:.0}%", r * 100.0)))) " (" (d.failures) " failed)" }
            dt { "time to restore" } dd.restore {
                (or_dash(d.time_to_restore_s.map(span)))
                @if d.unrestored > 0 { " " span.badge.bad { (d.unrestored) " not restored" } }
            }
        }
    }
}

fn stage(app: &str, s: &Stage) -> Markup {
    html! {
        section.stage data-env=(s.env) {
            h2 {
                (s.env) " "
                span.muted.small {
                    @match &s.upstream { Some(up) => { "code from " (up) }, None => { "builds its code" } }
                    " · content from " (s.content)
                    @if s.protected { " · " span.badge.bad { "protected" } }
                    @if s.mode == "pull" { " · pull" }
                    @for g in &s.groups { " · group " code { (g) } }
                }
            }
            p.live {
                "Runs: "
                @match &s.live {
                    Some(l) => {
                        span.mono { (l.release) } " (" a href=(deployment_href(l.deployment)) { "#" (l.deployment) } ")"
                        @if let Some(since) = &l.since { ", since " (at(since)) }
                        " "
                        @match l.verified.as_str() {
                            "passed" => span.badge.ok { "verified" },
                            "failed" => span.badge.bad { "verification failed" },
                            _ => span.badge { "not verified" },
                        }
                    },
                    None => span.muted { "nothing yet" },
                }
                @if let Some(r) = s.running { " · " span.badge.run { "deploying " a href=(deployment_href(r)) { "#" (r) } } }
            }
            @if let Some(w) = &s.waiting {
                div.waiting {
                    p {
                        "Waiting: " span.mono { (w.release) } " from "
                        a href=(deployment_href(w.upstream_deployment)) { "#" (w.upstream_deployment) } " "
                        @if w.qualifies { span.badge.ok { "qualifies" } } @else { span.badge.bad { "blocked" } }
                        " · " a href=(promotion_href(app, &s.env)) { "every requirement →" }
                    }
                    @if !w.lacks.is_empty() {
                        ul.lacks { @for l in &w.lacks { li { (l) } } }
                    }
                }
            } @else if s.upstream.is_some() {
                p.muted.waiting { "Nothing waits: it runs the newest release that succeeded upstream." }
            }
            @if let Some(p) = &s.promotable {
                p.verdict.ok { code { "haul promote " (app) " --to " (s.env) } " would deploy " span.mono { (p) } "." }
            }
            p.sync {
                "Last content sync: "
                @match &s.last_sync {
                    Some(c) => { "from " (c.from_env) " (" span.mono { (c.sets) } ") " (at(&c.at)) " " (c.outcome) },
                    None => span.muted { "none" },
                }
            }
            @if !s.subsets.is_empty() {
                ul.subsets { @for sub in &s.subsets { li { "takes a subset of " code { (sub.set) } ": " (sub.description) } } }
            }
            (dora(&s.dora))
        }
    }
}

pub(crate) async fn pipeline(who: Viewer, S(state): S<State>, p: Result<Path<String>, PathRejection>) -> Page {
    let app = p.map(|Path(a)| a).unwrap_or_default();
    if state.config.app(&app).is_err() {
        return Err(not_found(&who, &format!("There is no app {app:?} in haul.toml.")));
    }
    let p = read(&state.ledger, &state.config, &app, DEFAULT_DAYS).await.map_err(failed(&who))?;
    let body = html! {
        h1 { "Pipeline of " (app) }
        p.muted { "Environments in promotion order; DORA measures over the last " (DEFAULT_DAYS) " days." }
        div.pipeline #pipeline {
            @for s in &p.environments { (stage(&app, s)) }
        }
    };
    Ok(render(StatusCode::OK, &format!("Pipeline {app}"), Some(&who), body))
}

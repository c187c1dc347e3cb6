//! `/content/{app}`: the app's content syncs, newest first: who copied
//! which sets from where into where, why, how much, and how it ended. The
//! reasons and errors are text people and hosts wrote; maud escapes them.

use super::Viewer;
use super::layout::*;
use crate::State;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use haul_ledger::ContentOutcome;
use maud::html;

/// How many syncs the page shows.
const SHOWN: i64 = 100;

pub(crate) async fn content(who: Viewer, S(state): S<State>, p: Result<Path<String>, PathRejection>) -> Page {
    let app = p.map(|Path(a)| a).unwrap_or_default();
    if state.config.app(&app).is_err() {
        return Err(not_found(&who, &format!("There is no app {app:?} in haul.toml.")));
    }
    let syncs = state.ledger.content_syncs(Some(&app), None, SHOWN).await.map_err(failed(&who))?;
    let body = html! {
        h1 { "Content syncs of " (app) }
        @if syncs.is_empty() {
            p.muted { "No content has been synced yet (haul content sync)." }
        } @else {
            div.scroll {
                table.list #content-syncs {
                    thead { tr { th { "#" } th { "when" } th { "from" } th { "to" } th { "sets" } th { "bytes" } th { "who" } th { "why" } th { "outcome" } } }
                    tbody {
                        @for s in &syncs {
                            tr {
                                td { (s.id) }
                                td { (when(s.at)) }
                                td { (s.from_env) }
                                td { (s.to_env) }
                                td.mono { (s.sets) }
                                td { (s.bytes) }
                                td { (s.actor) }
                                td { (s.reason.as_deref().unwrap_or("—")) }
                                td {
                                    @match s.outcome {
                                        ContentOutcome::Succeeded => span.badge.ok { "synced" },
                                        ContentOutcome::Failed => span.badge.bad { "failed" },
                                    }
                                    @if let Some(e) = &s.error { div.error { (e) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(StatusCode::OK, &format!("Content {app}"), Some(&who), body))
}

//! The dashboard's actions: approve, quarantine, record a verification,
//! promote and roll back, each from a form on a page, with a reason.
//!
//! Every action goes through the same function the JSON API uses
//! (`api::approved`, `api::quarantined`, `api::report`, the deploy
//! requests' `requests::requested`), so a rule holds on both ways in.
//! On top of the API's checks:
//! - the viewer's token must hold the action's scope (a page says which it
//!   lacks, 403), and the deed is recorded under the token's name (a
//!   person signs in with their own token);
//! - a form posted with the session cookie must carry the session's CSRF
//!   token (the cookie is `SameSite=Strict` too);
//! - a reason is required, and promoting into or rolling back a protected
//!   environment needs its name typed as confirmation (never a "yes");
//! - promote and rollback of a pull environment are a deploy request (the
//!   server blesses, the agents switch); of a push environment, the CLI
//!   run by the server (`crate::push`), which reaches the hosts over SSH.

// A refusal is the page that says it, made once per request, as every
// page's `Err` is.
#![allow(clippy::result_large_err)]

use super::layout::*;
use super::session::action_allowed;
use super::{Viewer, session};
use crate::auth::{Admin, Approve, Deploy, Verify};
use crate::{ApiError, State};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State as S};
use axum::http::StatusCode;
use haul_api::VerificationResult;
use haul_api::pull::DeployRequest;
use haul_api::requests::{Approve as ApproveBody, QuarantineRelease, ReportVerification};
use haul_ledger::DeploymentStatus;
use haul_release::ReleaseId;
use maud::{Markup, html};
use serde::Deserialize;

/// The hidden fields every action form carries: the CSRF token of the
/// viewer's session (when signed in by one) and the page to go back to.
pub(crate) fn hidden(who: &Viewer, back: &str) -> Markup {
    html! {
        @if let Some(s) = who.session() { input type="hidden" name="csrf" value=(session::action_csrf(s)); }
        input type="hidden" name="next" value=(back);
    }
}

/// A refusal page: what was refused and why, and the way back.
fn refused(who: &Viewer, status: StatusCode, what: &str, why: &str, back: &str) -> axum::response::Response {
    let body = html! {
        section.refused {
            h1 { (what) " refused" }
            p.error #refusal { (why) }
            p { a href=(back) { "Back" } }
        }
    };
    render(status, &format!("{what} refused"), Some(who), body)
}

/// What was done, with the way back.
fn done(who: &Viewer, what: &str, said: Markup, back: &str) -> Page {
    let body = html! { section.done { h1 { (what) } p #done { (said) } p { a href=(back) { "Back" } } } };
    Ok(render(StatusCode::OK, what, Some(who), body))
}

/// The checks every action makes first: the form parsed, its CSRF token,
/// the scope `T`, a reason; answers the page to go back to.
fn admit<T: crate::auth::Scope, F: Common>(
    who: &Viewer,
    what: &str,
    form: &Result<Form<F>, FormRejection>,
) -> Result<String, axum::response::Response> {
    if let Err(e) = who.scoped::<T>() {
        return Err(refused(who, e.status, what, &e.message, "/"));
    }
    let f = match form {
        Ok(Form(f)) => f,
        Err(e) => return Err(refused(who, StatusCode::BAD_REQUEST, what, &e.body_text(), "/")),
    };
    let back = session::safe_next(f.next()).to_string();
    if !action_allowed(who.session(), f.csrf().unwrap_or_default()) {
        let why = "the form's CSRF token does not belong to this session: reload the page and try again";
        return Err(refused(who, StatusCode::FORBIDDEN, what, why, &back));
    }
    if f.reason().trim().is_empty() {
        return Err(refused(who, StatusCode::UNPROCESSABLE_ENTITY, what, "say why: the reason is recorded", &back));
    }
    Ok(back)
}

/// What every action form has.
trait Common {
    fn csrf(&self) -> Option<&str>;
    fn next(&self) -> Option<&str>;
    fn reason(&self) -> &str;
}

macro_rules! common {
    ($($t:ty),+) => {$(
        impl Common for $t {
            fn csrf(&self) -> Option<&str> { self.csrf.as_deref() }
            fn next(&self) -> Option<&str> { self.next.as_deref() }
            fn reason(&self) -> &str { &self.reason }
        }
    )+};
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveForm {
    app: String,
    env: String,
    release: String,
    reason: String,
    csrf: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuarantineForm {
    app: String,
    release: String,
    reason: String,
    csrf: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyForm {
    deployment: i64,
    name: String,
    result: String,
    /// Why: what was checked, or a link to it (kept as the verification's
    /// link).
    reason: String,
    csrf: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveForm {
    app: String,
    env: String,
    reason: String,
    /// The environment's name, typed, for a protected one.
    confirm: Option<String>,
    csrf: Option<String>,
    next: Option<String>,
}

common!(ApproveForm, QuarantineForm, VerifyForm, MoveForm);

fn api_refused(who: &Viewer, what: &str, e: ApiError, back: &str) -> axum::response::Response {
    refused(who, e.status, what, &e.message, back)
}

fn release_id(who: &Viewer, what: &str, id: &str, back: &str) -> Result<ReleaseId, axum::response::Response> {
    ReleaseId::parse(id).map_err(|e| refused(who, StatusCode::UNPROCESSABLE_ENTITY, what, &e.to_string(), back))
}

pub(crate) async fn approve(who: Viewer, S(state): S<State>, form: Result<Form<ApproveForm>, FormRejection>) -> Page {
    let what = "Approval";
    let back = admit::<Approve, _>(&who, what, &form)?;
    let Ok(Form(f)) = form else { unreachable!("admitted") };
    let release = release_id(&who, what, &f.release, &back)?;
    let b = ApproveBody { app: f.app, release, env: f.env, comment: Some(f.reason) };
    let a = crate::api::approved(&state, who.name(), b).await.map_err(|e| api_refused(&who, what, e, &back))?;
    done(
        &who,
        "Approved",
        html! { span.mono { (a.release) } " approved for " (a.env) " by " strong { (a.actor) } },
        &back,
    )
}

pub(crate) async fn quarantine(
    who: Viewer,
    S(state): S<State>,
    form: Result<Form<QuarantineForm>, FormRejection>,
) -> Page {
    let what = "Quarantine";
    let back = admit::<Admin, _>(&who, what, &form)?;
    let Ok(Form(f)) = form else { unreachable!("admitted") };
    let release = release_id(&who, what, &f.release, &back)?;
    let b = QuarantineRelease { app: f.app, release, reason: f.reason };
    let q = crate::api::quarantined(&state, who.name(), b).await.map_err(|e| api_refused(&who, what, e, &back))?;
    done(&who, "Quarantined", html! { span.mono { (q.release) } " quarantined by " strong { (q.actor) } }, &back)
}

pub(crate) async fn verify(who: Viewer, S(state): S<State>, form: Result<Form<VerifyForm>, FormRejection>) -> Page {
    let what = "Verification";
    let back = admit::<Verify, _>(&who, what, &form)?;
    let Ok(Form(f)) = form else { unreachable!("admitted") };
    let result: VerificationResult = f.result.parse().map_err(|e: haul_api::UnknownName| {
        refused(&who, StatusCode::UNPROCESSABLE_ENTITY, what, &e.to_string(), &back)
    })?;
    let b = ReportVerification { name: f.name, result, link: Some(f.reason) };
    let v =
        crate::api::report(&state, who.name(), f.deployment, b).await.map_err(|e| api_refused(&who, what, e, &back))?;
    done(
        &who,
        "Verification recorded",
        html! { (result.as_str()) " recorded on " a href=(deployment_href(v.deployment)) { "deployment #" (v.deployment) } " by " strong { (who.name()) } },
        &back,
    )
}

/// Promote and rollback share their checks: a known environment, and its
/// name typed when it is protected. Answers whether it deploys by pull.
fn movable(
    who: &Viewer,
    state: &State,
    what: &str,
    f: &MoveForm,
    back: &str,
) -> Result<bool, axum::response::Response> {
    crate::records::known_app_env(state, &f.app, Some(&f.env)).map_err(|e| api_refused(who, what, e, back))?;
    let e = state.config.environments.get(f.env.as_str()).expect("known");
    if e.protected() && f.confirm.as_deref().map(str::trim) != Some(f.env.as_str()) {
        let why = format!("{} is protected: type its name, `{}`, to confirm", f.env, f.env);
        return Err(refused(who, StatusCode::UNPROCESSABLE_ENTITY, what, &why, back));
    }
    Ok(e.mode() == haul_config::Mode::Pull)
}

/// A push environment's move: the CLI run by the server (see
/// `crate::push`), and the page that says so.
async fn push(who: &Viewer, state: &State, what: &str, f: &MoveForm, args: Vec<String>, back: &str) -> Page {
    let _ = who.scoped::<Deploy>().map_err(|e| api_refused(who, what, e, back))?;
    let id = crate::push::run(state, who.name(), &f.app, &f.env, &args)
        .await
        .map_err(|e| api_refused(who, what, e, back))?;
    done(
        who,
        &format!("{what} started"),
        html! {
            (what) " of " (f.app) " in " (f.env) " started by " strong { (who.name()) } ": "
            @match id {
                Some(id) => a href=(deployment_href(id)) { "deployment #" (id) },
                None => a href="/" { "it shows on the matrix" },
            }
        },
        back,
    )
}

/// Starts the deploy request on a task of its own (a browser that goes
/// away does not cancel it) and shows the deployment it started.
async fn request(who: &Viewer, state: &State, what: &str, b: DeployRequest, undoes: Option<i64>, back: &str) -> Page {
    let auth = who.scoped::<Deploy>().map_err(|e| api_refused(who, what, e, back))?;
    let started = tokio::spawn(crate::requests::requested(auth, state.clone(), b, undoes))
        .await
        .map_err(|e| api_refused(who, what, ApiError::internal(&e), back))?
        .map_err(|e| api_refused(who, what, e, back))?;
    done(
        who,
        &format!("{what} started"),
        html! {
            span.mono { (started.release) } " blessed as version " (started.version) " by " strong { (started.actor) } ": "
            a href=(deployment_href(started.deployment)) { "deployment #" (started.deployment) }
        },
        back,
    )
}

pub(crate) async fn promote(who: Viewer, S(state): S<State>, form: Result<Form<MoveForm>, FormRejection>) -> Page {
    let what = "Promotion";
    let back = admit::<Deploy, _>(&who, what, &form)?;
    let Ok(Form(f)) = form else { unreachable!("admitted") };
    if !movable(&who, &state, what, &f, &back)? {
        // `--reason=…` in one word: a reason that starts with `-` stays a reason.
        let reason = format!("--reason={}", f.reason);
        let args = ["promote", &f.app, "--to", &f.env, &reason].map(String::from).to_vec();
        return push(&who, &state, what, &f, args, &back).await;
    }
    let chosen =
        crate::records::choose(&state, &f.app, &f.env, None).await.map_err(|e| api_refused(&who, what, e, &back))?;
    let b = DeployRequest {
        app: f.app,
        env: f.env,
        release: chosen.release,
        digest: None,
        reason: Some(f.reason),
        on_behalf_of: None,
        force: None,
    };
    request(&who, &state, what, b, None, &back).await
}

pub(crate) async fn rollback(who: Viewer, S(state): S<State>, form: Result<Form<MoveForm>, FormRejection>) -> Page {
    let what = "Rollback";
    let back = admit::<Deploy, _>(&who, what, &form)?;
    let Ok(Form(f)) = form else { unreachable!("admitted") };
    if !movable(&who, &state, what, &f, &back)? {
        let reason = format!("--reason={}", f.reason);
        let args = ["rollback", &f.app, &f.env, &reason].map(String::from).to_vec();
        return push(&who, &state, what, &f, args, &back).await;
    }
    let fail = |e: haul_ledger::LedgerError| api_refused(&who, what, e.into(), &back);
    let Some(live) = state.ledger.live(&f.app, &f.env).await.map_err(fail)? else {
        return Err(refused(&who, StatusCode::CONFLICT, what, &format!("nothing runs in {} yet", f.env), &back));
    };
    // Where it goes back to: the newest release that ran here before the
    // live one and is not quarantined.
    let mut target = None;
    for d in state.ledger.deployments(Some(&f.app), Some(&f.env), 200).await.map_err(fail)? {
        let went_live = matches!(d.status, DeploymentStatus::Succeeded | DeploymentStatus::Undone);
        if d.id < live.id
            && went_live
            && d.release != live.release
            && state.ledger.quarantined(&f.app, &d.release).await.map_err(fail)?.is_none()
        {
            target = Some(d.release);
            break;
        }
    }
    let Some(release) = target else {
        let why = format!("{} has run no other release (that is not quarantined) to go back to", f.env);
        return Err(refused(&who, StatusCode::CONFLICT, what, &why, &back));
    };
    let undoes = live.undone_by_rollback_to(&release);
    let b = DeployRequest {
        app: f.app,
        env: f.env,
        release,
        digest: None,
        reason: Some(f.reason),
        on_behalf_of: None,
        force: None,
    };
    request(&who, &state, what, b, undoes, &back).await
}

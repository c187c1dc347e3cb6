//! Signing in and out: the sign-in form (a `read` token, once, with a CSRF
//! nonce), the session it starts, and the sign-out form; and the
//! stylesheet, which needs no sign-in either.

use super::layout::render;
use super::session;
use crate::State;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State as S};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

const CSS: &str = include_str!("dashboard.css");

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
    csrf: String,
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

pub(crate) async fn login_form(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    login_page(&state, &headers, &uri, StatusCode::OK, session::safe_next(q.next.as_deref()), None)
}

/// The sign-in form, with a fresh CSRF nonce (its cookie is set here).
fn login_page(
    state: &State,
    headers: &HeaderMap,
    uri: &Uri,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    let (nonce, csrf) = session::login_csrf();
    let body = html! {
        section.login {
            h1 { "Sign in" }
            p.muted { "Paste a token with the " code { "read" } " scope (one of " code { "[[server.tokens]]" } " in haul.toml)." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if state.tokens.is_empty() { p.error { "No tokens are configured: add one to [[server.tokens]] in haul.toml." } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button #sign-in type="submit" { "Sign in" }
            }
        }
    };
    let mut res = render(status, "Sign in", None, body);
    if let Ok(v) = HeaderValue::from_str(&session::cookie(session::CSRF_COOKIE, &nonce, headers, uri, 3600)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub(crate) async fn login(
    S(state): S<State>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let why = Some("The form was not understood; try again.");
        return login_page(&state, &headers, &uri, StatusCode::BAD_REQUEST, "/", why);
    };
    let next = session::safe_next(f.next.as_deref()).to_string();
    if !session::login_allowed(&headers, &f.csrf) {
        let why = Some("The form has expired or was not sent from this page; try again.");
        return login_page(&state, &headers, &uri, StatusCode::FORBIDDEN, &next, why);
    }
    match session::reader(&state, &f.token) {
        Ok(token) => {
            let cookies = [
                session::session_cookie(token, &headers, &uri),
                session::cookie(session::CSRF_COOKIE, "", &headers, &uri, 0),
            ];
            session::redirect(&next, &cookies)
        }
        Err(why) => login_page(&state, &headers, &uri, StatusCode::UNAUTHORIZED, &next, Some(why)),
    }
}

/// Signing out: a POST from the dashboard's own form only.
pub(crate) async fn logout(headers: HeaderMap, uri: Uri, form: Result<Form<LogoutForm>, FormRejection>) -> Response {
    match form {
        Ok(Form(f)) if session::logout_allowed(&headers, &f.csrf) => {
            session::redirect("/login", &[session::cookie(session::COOKIE, "", &headers, &uri, 0)])
        }
        _ => (StatusCode::FORBIDDEN, "sign-out needs the form of a page of this dashboard\n").into_response(),
    }
}

const JS: &str = include_str!("live.js");

/// The one script the pages load: live updates (see `live.js`).
pub(crate) async fn js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], JS)
        .into_response()
}

pub(crate) async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

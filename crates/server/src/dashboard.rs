//! The dashboard: server-rendered HTML pages over the ledger for people.
//!
//! `/` is the apps × environments matrix (what is live, when, by whom,
//! verified or not, which hosts drift), `/deployments/{id}` one deployment
//! with each host's progress through the phases, `/hosts/{name}` what runs
//! on a host and what touched it, `/promotions/{app}/{env}` each candidate
//! judged against each requirement. Pages are rendered with `maud`, so
//! every value is HTML-escaped by construction; the stylesheet is embedded
//! in the binary and there is no script, so the pages work without
//! JavaScript and load nothing from elsewhere.
//!
//! Pages need a token with the `read` scope, presented as a bearer token
//! or through the signed session `/login` starts (see `session`); the
//! token itself is never kept in the browser, and never logged.

use crate::{State, session};
use axum::Router;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use haul_ledger::{
    Assessment, CheckKind, Deployment, DeploymentStatus, HostDeployment, HostResult, LedgerError, Verification,
    VerificationResult,
};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use std::collections::BTreeMap;

type State_ = axum::extract::State<State>;

/// A page, or the response that stands in for it (a redirect, an error page).
type Page = Result<Response, Response>;

const CSS: &str = include_str!("dashboard.css");

/// The phases of a deploy, in order; a host's row shows how far it got.
const PHASES: [&str; 9] = ["build", "connect", "lock", "stage", "migrate", "switch", "start", "refresh", "verify"];
/// The phases every deploy goes through, shown even when no host stopped there.
const CORE_PHASES: [&str; 5] = ["build", "stage", "migrate", "switch", "verify"];

pub(crate) fn routes(state: State) -> Router {
    Router::new()
        .route("/", get(matrix))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/deployments/{id}", get(deployment))
        .route("/hosts/{name}", get(host))
        .route("/promotions/{app}/{env}", get(promotion))
        .route("/dashboard.css", get(css))
        .with_state(state)
}

// ---------------------------------------------------------------- auth

/// Who is looking, and the CSRF token of their sign-out form (none for a
/// bearer token, which has no session to end).
pub(crate) struct Viewer {
    name: String,
    logout: Option<String>,
}

/// Who is looking: a `read` token from the Authorization header or a
/// signed session; otherwise a redirect to `/login` that comes back here.
#[allow(clippy::result_large_err, reason = "the error is the redirect that answers the request")]
fn viewer(state: &State, headers: &HeaderMap, uri: &Uri) -> Result<Viewer, Response> {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    if let Some(token) = bearer.and_then(|s| session::reader(state, s).ok()) {
        return Ok(Viewer { name: token.name.clone(), logout: None });
    }
    if let Some((token, value)) = session::session(state, headers) {
        return Ok(Viewer { name: token.name.clone(), logout: Some(session::logout_csrf(value)) });
    }
    let here = uri.path_and_query().map_or("/", |p| p.as_str());
    let to = if here == "/" { "/login".to_string() } else { format!("/login?next={}", encode(here)) };
    Err(session::redirect(&to, &[]))
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
    csrf: String,
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn login_form(
    axum::extract::State(state): State_,
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

async fn login(
    axum::extract::State(state): State_,
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
async fn logout(headers: HeaderMap, uri: Uri, form: Result<Form<LogoutForm>, FormRejection>) -> Response {
    match form {
        Ok(Form(f)) if session::logout_allowed(&headers, &f.csrf) => {
            session::redirect("/login", &[session::cookie(session::COOKIE, "", &headers, &uri, 0)])
        }
        _ => (StatusCode::FORBIDDEN, "sign-out needs the form of a page of this dashboard\n").into_response(),
    }
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

// ---------------------------------------------------------------- rendering helpers

fn render(status: StatusCode, title: &str, who: Option<&Viewer>, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · haul" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body {
                header.top {
                    a.brand href="/" { "haul" }
                    nav { a href="/" { "Matrix" } }
                    @if let Some(who) = who {
                        @if let Some(csrf) = &who.logout {
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                span.muted { "signed in as " strong #viewer { (who.name) } }
                                button type="submit" { "Sign out" }
                            }
                        } @else {
                            span.muted.logout { "signed in as " strong #viewer { (who.name) } }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    let mut res = (status, page.into_string()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

fn not_found(who: &Viewer, what: &str) -> Response {
    let body = html! {
        section.notfound {
            h1 { "Not found" }
            p { (what) }
            p { a href="/" { "Back to the matrix" } }
        }
    };
    render(StatusCode::NOT_FOUND, "Not found", Some(who), body)
}

/// A ledger failure: 404 for a deployment that does not exist, 503 while
/// the database cannot be reached, otherwise the database failed (the only
/// 500).
fn failed(who: &Viewer) -> impl Fn(LedgerError) -> Response + '_ {
    move |e| match e {
        LedgerError::NoDeployment(id) => not_found(who, &format!("There is no deployment {id} in the ledger.")),
        e if e.is_unavailable() => {
            let e = crate::ApiError::from(e);
            let body = html! { section { h1 { "The ledger is unavailable" } p.error { (e.message) } } };
            render(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", Some(who), body)
        }
        e => {
            let e = crate::ApiError::internal(&e);
            let body = html! { section { h1 { "The ledger failed" } p.error { (e.message) } } };
            render(StatusCode::INTERNAL_SERVER_ERROR, "Error", Some(who), body)
        }
    }
}

/// Percent-encodes everything but unreserved characters (and `/` when it
/// separates path segments is the caller's business: it is encoded here).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn deployment_href(id: i64) -> String {
    format!("/deployments/{id}")
}

fn host_href(name: &str) -> String {
    format!("/hosts/{}", encode(name))
}

fn promotion_href(app: &str, env: &str) -> String {
    format!("/promotions/{}/{}", encode(app), encode(env))
}

fn ago(secs: i64) -> String {
    match secs {
        s if s < 5 => "just now".into(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A time from the ledger: the UTC date and time to the second, and how
/// long ago.
fn when(t: jiff::Timestamp) -> Markup {
    let ts = haul_ledger::time::text(t);
    let short = ts.get(..19).map(|s| s.replace('T', " ")).unwrap_or_else(|| ts.to_string());
    let rel = Some(ago(jiff::Timestamp::now().as_second() - t.as_second()));
    html! {
        time datetime=(ts) title=(ts) {
            (short) " UTC"
            @if let Some(r) = rel { span.muted { " · " (r) } }
        }
    }
}

fn duration_between(start: jiff::Timestamp, end: Option<jiff::Timestamp>) -> Option<String> {
    let (a, b) = (start, end?);
    Some(ms(b.as_millisecond() - a.as_millisecond()))
}

fn ms(ms: i64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}

fn secs(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn status_class(s: DeploymentStatus) -> &'static str {
    match s {
        DeploymentStatus::Succeeded => "ok",
        DeploymentStatus::Running => "run",
        DeploymentStatus::Failed => "bad",
        DeploymentStatus::SwitchedBack | DeploymentStatus::Undone => "warn",
    }
}

fn status_badge(s: DeploymentStatus) -> Markup {
    html! { span class={"badge " (status_class(s))} { (s.as_str().replace('_', " ")) } }
}

fn host_status_badge(s: &str) -> Markup {
    let class = match s {
        "ok" | "unchanged" => "ok",
        "failed" => "bad",
        "switched_back" => "warn",
        _ => "muted",
    };
    html! { span class={"badge " (class)} { (s.replace('_', " ")) } }
}

fn result_badge(r: VerificationResult) -> Markup {
    let class = if r == VerificationResult::Pass { "ok" } else { "bad" };
    html! { span class={"badge " (class)} { (r.as_str()) } }
}

/// A link only when it is a web address; anything else is shown as text.
fn maybe_link(link: &str) -> Markup {
    if link.starts_with("https://") || link.starts_with("http://") {
        html! { a href=(link) rel="noreferrer noopener" { (link) } }
    } else {
        html! { (link) }
    }
}

/// Where a verification set stands: passing names, failing ones.
fn verified(vs: &[Verification]) -> Markup {
    let passing: Vec<&str> =
        vs.iter().filter(|v| v.result == VerificationResult::Pass).map(|v| v.name.as_str()).collect();
    let failing: Vec<&Verification> = vs.iter().filter(|v| v.result != VerificationResult::Pass).collect();
    html! {
        @if vs.is_empty() {
            span.badge.muted.verification { "not verified" }
        } @else if failing.is_empty() {
            span.badge.ok.verification title=(passing.join(", ")) { "verified" }
            " " span.names { (passing.join(", ")) }
        } @else {
            span.badge.bad.verification { "not verified" }
            " " span.names {
                @for (i, v) in failing.iter().enumerate() {
                    @if i > 0 { ", " }
                    (v.name) " " (v.result.as_str())
                }
                @if !passing.is_empty() { "; passing: " (passing.join(", ")) }
            }
        }
    }
}

// ---------------------------------------------------------------- the matrix

/// Environments in pipeline order: those that build first, then each
/// environment after the one it takes its code from; by name within a step.
fn ordered_envs(state: &State) -> Vec<String> {
    let envs = &state.config.environments;
    let depth = |name: &str| {
        let mut d = 0;
        let mut at = name.to_string();
        while let Some(e) = envs.get(at.as_str()) {
            let code = e.code.get_ref();
            if code == "build" || d > envs.len() {
                break;
            }
            d += 1;
            at = code.clone();
        }
        d
    };
    let mut names: Vec<String> = envs.keys().map(|k| k.get_ref().clone()).collect();
    names.sort_by_key(|n| (depth(n), n.clone()));
    names
}

/// The hosts of `env` that receive `app` (none when its roles leave none).
fn app_hosts(state: &State, app: &str, env: &str) -> Vec<String> {
    state.config.app_hosts(app, env, &[]).map(|hs| hs.into_iter().map(|h| h.name).collect()).unwrap_or_default()
}

fn upstream(state: &State, env: &str) -> Option<String> {
    let code = state.config.environments.get(env)?.code.get_ref();
    (code != "build").then(|| code.clone())
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
    Ok(Cell { env: env.to_string(), hosts, live, verifications, drift, running, upstream: upstream(state, env) })
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

async fn matrix(axum::extract::State(state): State_, headers: HeaderMap, uri: Uri) -> Page {
    let who = viewer(&state, &headers, &uri)?;
    let envs = ordered_envs(&state);
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
                                th.app scope="row" { (app) }
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

// ---------------------------------------------------------------- a deployment

/// The phases shown as columns: the core ones and any a host stopped at.
fn phase_columns(hosts: &[HostResult]) -> Vec<&'static str> {
    PHASES.iter().copied().filter(|p| CORE_PHASES.contains(p) || hosts.iter().any(|h| h.phase.as_str() == *p)).collect()
}

fn phase_cell(h: &HostResult, phase: &str) -> Markup {
    let reached = PHASES.iter().position(|p| *p == h.phase.as_str());
    let this = PHASES.iter().position(|p| *p == phase);
    let (class, mark, title) = match (reached, this) {
        (Some(r), Some(t)) if t < r => ("ok", "✓", "passed"),
        (Some(r), Some(t)) if t == r => match h.status.as_str() {
            "ok" | "unchanged" => ("ok", "✓", "reached"),
            "failed" => ("bad", "✗", "failed here"),
            "switched_back" => ("warn", "↩", "switched back here"),
            _ => ("muted", "•", "stopped here"),
        },
        (Some(r), Some(t)) if t > r && matches!(h.status.as_str(), "ok" | "unchanged") => {
            ("muted", "–", "nothing to do")
        }
        _ => ("muted", "·", "not reached"),
    };
    html! { td class={"phase " (class)} title=(title) { (mark) } }
}

async fn deployment(
    axum::extract::State(state): State_,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Page {
    let who = viewer(&state, &headers, &uri)?;
    let raw = id.map(|Path(s)| s).unwrap_or_default();
    let Ok(id) = raw.parse::<i64>() else {
        return Err(not_found(&who, &format!("There is no deployment {raw:?}: deployments are numbered.")));
    };
    let f = failed(&who);
    let d = state.ledger.deployment(id).await.map_err(&f)?;
    let hosts = state.ledger.host_results(id).await.map_err(&f)?;
    let verifications = state.ledger.verifications(id).await.map_err(&f)?;
    let undone_by = state.ledger.undone_by(id).await.map_err(&f)?;
    let columns = phase_columns(&hosts);
    let body = html! {
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
                            @for p in &columns { th.phase { (p) } }
                            th { "status" } th { "error" } th { "time" }
                        }
                    }
                    tbody {
                        @for h in &hosts {
                            tr data-host=(h.host) {
                                td { a href=(host_href(&h.host)) { (h.host) } }
                                @for p in &columns { (phase_cell(h, p)) }
                                td { (host_status_badge(h.status.as_str())) }
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
        @if upstream(&state, &d.env).is_some() {
            p { a href=(promotion_href(&d.app, &d.env)) { "What may be promoted to " (d.env) " →" } }
        }
    };
    Ok(render(StatusCode::OK, &format!("Deployment #{}", d.id), Some(&who), body))
}

// ---------------------------------------------------------------- a host

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
                        td { (host_status_badge(hd.result.status.as_str())) }
                        td.error { (hd.result.error.as_deref().unwrap_or("")) }
                        td { (when(d.started)) }
                    }
                }
            }
        }
    }
}

async fn host(
    axum::extract::State(state): State_,
    headers: HeaderMap,
    uri: Uri,
    name: Result<Path<String>, PathRejection>,
) -> Page {
    let who = viewer(&state, &headers, &uri)?;
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

// ---------------------------------------------------------------- promotion

fn check_name(k: &CheckKind) -> Markup {
    match k {
        CheckKind::Quarantine => html! { "not quarantined" },
        CheckKind::Verification(n) => html! { "verification " code { (n) } },
        CheckKind::Soak => html! { "soak" },
        CheckKind::Approvals => html! { "approvals" },
    }
}

async fn promotion(
    axum::extract::State(state): State_,
    headers: HeaderMap,
    uri: Uri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Page {
    let who = viewer(&state, &headers, &uri)?;
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
    let candidates: Vec<Assessment> = state.ledger.assess(&app, &up, &env, &requirements).await.map_err(&f)?;
    let live = state.ledger.live(&app, &env).await.map_err(&f)?;
    let next = candidates.iter().find(|c| c.qualifies()).map(|c| c.release.clone());
    let body = html! {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn https_is_detected_directly_or_through_a_proxy() {
        let uri: Uri = "/".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(!session::over_https(&h, &uri));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(session::over_https(&h, &uri));
        assert!(session::cookie("x", "v", &h, &uri, 1).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4;proto=https"));
        assert!(session::over_https(&h, &uri));
    }
}

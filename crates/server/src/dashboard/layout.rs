//! What every page shares: the frame (header, sign-out form, security
//! headers), the not-found and failure pages, links, times and badges.

use super::{Viewer, encode};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haul_api::HostStatus;
use haul_ledger::{DeploymentStatus as Status, LedgerError, Verification, VerificationResult};
use maud::{DOCTYPE, Markup, html};

/// A page, or the response that stands in for it (a redirect, an error page).
pub(crate) type Page = Result<Response, Response>;

pub(crate) fn render(status: StatusCode, title: &str, who: Option<&Viewer>, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · haul" }
                link rel="stylesheet" href="/dashboard.css";
                @if who.is_some() { script src="/dashboard.js" defer {} }
            }
            body {
                header.top {
                    a.brand href="/" { "haul" }
                    nav { a href="/" { "Matrix" } }
                    @if let Some(who) = who {
                        @if let Some(csrf) = who.session().map(super::session::logout_csrf) {
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                span.muted { "signed in as " strong #viewer { (who.name()) } }
                                button type="submit" { "Sign out" }
                            }
                        } @else {
                            span.muted.logout { "signed in as " strong #viewer { (who.name()) } }
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
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

pub(crate) fn not_found(who: &Viewer, what: &str) -> Response {
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
pub(crate) fn failed(who: &Viewer) -> impl Fn(LedgerError) -> Response + '_ {
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

pub(crate) fn deployment_href(id: i64) -> String {
    format!("/deployments/{id}")
}

pub(crate) fn host_href(name: &str) -> String {
    format!("/hosts/{}", encode(name))
}

pub(crate) fn promotion_href(app: &str, env: &str) -> String {
    format!("/promotions/{}/{}", encode(app), encode(env))
}

pub(crate) fn ago(secs: i64) -> String {
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
pub(crate) fn when(t: jiff::Timestamp) -> Markup {
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

pub(crate) fn duration_between(start: jiff::Timestamp, end: Option<jiff::Timestamp>) -> Option<String> {
    let (a, b) = (start, end?);
    Some(ms(b.as_millisecond() - a.as_millisecond()))
}

pub(crate) fn ms(ms: i64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}

pub(crate) fn secs(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub(crate) fn status_class(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "ok",
        Status::Running => "run",
        Status::Failed => "bad",
        Status::SwitchedBack | Status::Undone => "warn",
    }
}

pub(crate) fn status_badge(s: Status) -> Markup {
    html! { span class={"badge " (status_class(s))} { (s.as_str().replace('_', " ")) } }
}

pub(crate) fn host_status_badge(s: HostStatus) -> Markup {
    // A host still running, untouched or skipped is muted.
    let class = match s {
        HostStatus::Ok | HostStatus::Unchanged => "ok",
        HostStatus::Failed => "bad",
        HostStatus::SwitchedBack => "warn",
        HostStatus::Untouched | HostStatus::Skipped | HostStatus::Running => "muted",
    };
    html! { span class={"badge " (class)} { (s.as_str().replace('_', " ")) } }
}

pub(crate) fn result_badge(r: VerificationResult) -> Markup {
    let class = if r == VerificationResult::Pass { "ok" } else { "bad" };
    html! { span class={"badge " (class)} { (r.as_str()) } }
}

/// A link only when it is a web address; anything else is shown as text.
pub(crate) fn maybe_link(link: &str) -> Markup {
    if link.starts_with("https://") || link.starts_with("http://") {
        html! { a href=(link) rel="noreferrer noopener" { (link) } }
    } else {
        html! { (link) }
    }
}

/// Where a verification set stands: passing names, failing ones.
pub(crate) fn verified(vs: &[Verification]) -> Markup {
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

//! The dashboard: server-rendered HTML pages over the ledger for people.
//!
//! `/` is the apps × environments matrix (what is live, when, by whom,
//! verified or not, which hosts drift), `/deployments/{id}` one deployment
//! with each host's progress through the phases, `/hosts/{name}` what runs
//! on a host and what touched it, `/promotions/{app}/{env}` each candidate
//! judged against each requirement, `/agents/{app}/{env}` the agents of a
//! pull environment (drift and silent ones marked), `/content/{app}` the
//! app's content syncs, `/pipeline/{app}` its environments in promotion
//! order with what waits where and the DORA measures. Pages are rendered with `maud`, so
//! every value is HTML-escaped by construction; the stylesheet is embedded
//! in the binary, and so is the one small script (`live.js`), which only
//! refreshes a page when the ledger records something: the pages work
//! without JavaScript and load nothing from elsewhere. A signed-in token
//! with the scope acts from the pages (`actions`: approve, quarantine,
//! record a verification, promote and roll back a pull environment), each
//! with a reason, CSRF-protected, recorded under the token's name.
//!
//! Pages need a token with the `read` scope, presented as a bearer token
//! or through the signed session `/login` starts (see `session`); the
//! token itself is never kept in the browser, and never logged.
//!
//! Each page is a file (`matrix`, `deployment`, `host`, `promotion`), beside
//! the frame they share (`layout`), signing in and out (`login`) and the
//! signed sessions (`session`). Every page takes an `Auth<Read, Page>`:
//! the same extractor as the API, which also accepts the session cookie and
//! answers a redirect to `/login` instead of a 401 or 403.

mod actions;
pub(crate) mod agents;
mod content;
mod deployment;
mod host;
mod layout;
mod login;
mod matrix;
mod pipeline;
mod promotion;
pub(crate) mod session;

use crate::State;
use crate::auth::{Auth, Page, Read};
use axum::Router;
use axum::routing::{get, post};

/// Who is looking: a token that may read, by bearer token or session.
pub(crate) type Viewer = Auth<Read, Page>;

/// The dashboard's routes that need no token: the sign-in and sign-out
/// forms (which check a CSRF token instead) and the stylesheet.
#[cfg(test)]
pub(crate) const PUBLIC: [(&str, &str); 5] =
    [("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/dashboard.css"), ("GET", "/dashboard.js")];

/// The actions, each a form's POST behind a `read` session and the scope
/// it names (see `actions`).
pub(crate) const ACTIONS: [(&str, &str); 5] = [
    ("/actions/approve", "approve"),
    ("/actions/quarantine", "admin"),
    ("/actions/verify", "verify"),
    ("/actions/promote", "deploy"),
    ("/actions/rollback", "deploy"),
];

/// The pages, each behind `Auth<Read, Page>`, with an example path each.
pub(crate) const PAGES: [(&str, &str); 8] = [
    ("/", "/"),
    ("/deployments/{id}", "/deployments/1"),
    ("/hosts/{name}", "/hosts/a"),
    ("/promotions/{app}/{env}", "/promotions/app/prod"),
    ("/agents/{app}/{env}", "/agents/app/prod"),
    ("/content/{app}", "/content/app"),
    ("/pipeline/{app}", "/pipeline/app"),
    // What the pages' script listens to (Server-Sent Events).
    ("/live", "/live"),
];

pub(crate) fn routes(state: State) -> Router {
    Router::new()
        .route(PAGES[0].0, get(matrix::matrix))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route(PAGES[1].0, get(deployment::deployment))
        .route(PAGES[2].0, get(host::host))
        .route(PAGES[3].0, get(promotion::promotion))
        .route(PAGES[4].0, get(agents::agents))
        .route(PAGES[5].0, get(content::content))
        .route(PAGES[6].0, get(pipeline::pipeline))
        .route("/dashboard.css", get(login::css))
        .route("/dashboard.js", get(login::js))
        .route(PAGES[7].0, get(crate::events::live))
        .route(ACTIONS[0].0, post(actions::approve))
        .route(ACTIONS[1].0, post(actions::quarantine))
        .route(ACTIONS[2].0, post(actions::verify))
        .route(ACTIONS[3].0, post(actions::promote))
        .route(ACTIONS[4].0, post(actions::rollback))
        .with_state(state)
}

/// Percent-encodes everything but unreserved characters (and `/` when it
/// separates path segments is the caller's business: it is encoded here).
pub(crate) fn encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}

//! Who is asking, and whether they may: the one authentication extractor.
//!
//! Every handler of the API and every dashboard page takes an
//! `Auth<Scope>` (a page an `Auth<Scope, Page>`), so a route cannot reach
//! its body, let alone the ledger, without a token that has the scope its
//! signature names: "every route checks a token and a scope" holds by the
//! handlers' types. An API route takes a bearer token only and answers 401
//! (no or an unknown token) or 403 (too small a scope) as JSON; a page also
//! takes the signed session cookie that `/login` sets, and answers a
//! redirect to `/login` instead. `admin` may do everything.

use crate::dashboard::session;
use crate::{ApiError, State, Token};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::marker::PhantomData;

/// A scope a route needs: the token's scopes must hold one of `NAMES`
/// (or `admin`).
pub trait Scope: Send + Sync + 'static {
    const NAMES: &'static [&'static str];
}

macro_rules! scopes {
    ($($(#[$m:meta])* $name:ident => [$($s:literal),+];)+) => {
        $($(#[$m])* pub struct $name; impl Scope for $name { const NAMES: &'static [&'static str] = &[$($s),+]; })+
    };
}

scopes! {
    /// Reads of the ledger.
    Read => ["read"];
    /// Recording releases and deployments as they run.
    Deploy => ["deploy"];
    /// Reporting verifications.
    Verify => ["verify"];
    /// Approving releases.
    Approve => ["approve"];
    /// What a pull agent does: post its reports.
    Agent => ["agent"];
    /// What agents and people read of agents.
    ReadOrAgent => ["read", "agent"];
    /// Quarantines, the audit check, redeliveries, breaking glass.
    Admin => ["admin"];
    /// What `haul verify` reads: an environment's latest deployment.
    ReadOrVerify => ["read", "verify"];
    /// What a run reads (what an environment runs, its quarantines,
    /// promotion candidates): a token that deploys needs nothing more.
    ReadOrDeploy => ["read", "deploy"];
}

/// How the credential comes: a bearer token (the API), or a bearer token
/// or a session cookie (the dashboard's pages).
pub trait Via: Send + Sync + 'static {}

/// `Authorization: Bearer <secret>` only.
pub struct Bearer;
impl Via for Bearer {}

/// A bearer token or the dashboard's signed session.
pub struct Page;
impl Via for Page {}

/// A token allowed to act in scope `S`, presented the `V` way.
pub struct Auth<S: Scope, V: Via = Bearer> {
    token: Token,
    /// The session cookie's value when the session was the credential.
    session: Option<String>,
    _scope: PhantomData<(S, V)>,
}

impl<S: Scope, V: Via> Auth<S, V> {
    /// The token's name: what writes record as their actor.
    pub fn name(&self) -> &str {
        &self.token.name
    }

    /// The session cookie's value, when signed in through one.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Whether the token may fetch the secret files of `env` (its
    /// `secrets` names it; 403 otherwise, whatever its scopes).
    pub fn secrets_of(&self, env: &str) -> Result<(), ApiError> {
        if self.token.secrets.iter().any(|e| e == env) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` may not fetch the secret files of environment `{env}` (list it in the token's `secrets`)",
                self.token.name
            ),
        ))
    }

    /// Whether the token may speak for `host` (when one is named) of
    /// `app` in `env` (403 naming what it may not otherwise). Every route
    /// an `agent` token reaches calls it before it reads or writes: the
    /// routes are pinned by `routes_test`.
    pub fn may_speak_for(&self, app: &str, env: &str, host: Option<&str>) -> Result<(), ApiError> {
        self.token.bound.allows(&self.token.name, app, env, host)
    }

    /// The same token's authority in scope `T` (403 when it has not), for
    /// code the API and the dashboard share, which takes a bearer's.
    pub(crate) fn scoped<T: Scope>(&self) -> Result<Auth<T>, ApiError> {
        permit(&self.token, T::NAMES)?;
        Ok(Auth { token: self.token.clone(), session: None, _scope: PhantomData })
    }

    /// Whether the token may also act in scope `T` (403 otherwise).
    pub fn also<T: Scope>(&self) -> Result<(), ApiError> {
        permit(&self.token, T::NAMES)
    }
}

/// What an agent token is bound to by `[[server.tokens]]` `hosts`, `apps`
/// and `envs`: each `None` allows any. The config lets only a token whose
/// one scope is `agent` be bound, so no other scope escapes a binding.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    hosts: Option<Vec<String>>,
    apps: Option<Vec<String>>,
    envs: Option<Vec<String>>,
}

impl Binding {
    /// The bindings `t` is configured with.
    pub fn of(t: &haul_config::Token) -> Binding {
        use haul_config::bound_names as names;
        Binding { hosts: names(&t.hosts), apps: names(&t.apps), envs: names(&t.envs) }
    }

    /// Whether a token named `token` so bound may speak for `host` (when
    /// one is named) of `app` in `env`: 403 naming the first that it may not.
    fn allows(&self, token: &str, app: &str, env: &str, host: Option<&str>) -> Result<(), ApiError> {
        let checks = [
            ("app", "app", "apps", Some(app), &self.apps),
            ("environment", "env", "envs", Some(env), &self.envs),
            ("host", "host", "hosts", host, &self.hosts),
        ];
        for (what, field, key, name, allowed) in checks {
            let (Some(name), Some(allowed)) = (name, allowed) else { continue };
            if !allowed.iter().any(|a| a == name) {
                let listed = allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("token `{token}` may not speak for {what} `{name}` (its `{key}` allow only {listed})"),
                )
                .with_field(field));
            }
        }
        Ok(())
    }
}

/// The hex SHA-256 of a token's secret: what `[[server.tokens]] sha256`
/// lists and what a presented token is compared by.
pub fn token_sha256(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The configured token whose secret this is (401 otherwise).
pub(crate) fn known<'a>(state: &'a State, secret: &str) -> Result<&'a Token, ApiError> {
    let digest = token_sha256(secret.trim());
    state
        .tokens
        .iter()
        .find(|t| t.sha256.eq_ignore_ascii_case(&digest))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))
}

/// Whether `token` may act in one of `scopes` (403 otherwise).
pub(crate) fn permit(token: &Token, scopes: &[&str]) -> Result<(), ApiError> {
    if token.scopes.iter().any(|s| scopes.contains(&s.as_str()) || s == "admin") {
        return Ok(());
    }
    let wanted = scopes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ");
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("token `{}` lacks the {wanted} scope (it has: {})", token.name, token.scopes.join(", ")),
    ))
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ()> {
    match parts.headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(h) => h.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).map(Some).ok_or(()),
    }
}

impl<S: Scope> FromRequestParts<State> for Auth<S, Bearer> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        let unauthorized =
            || ApiError::new(StatusCode::UNAUTHORIZED, "a bearer token is needed (Authorization: Bearer …)");
        let secret = bearer(parts).ok().flatten().ok_or_else(unauthorized)?;
        let token = known(state, secret)?;
        permit(token, S::NAMES)?;
        Ok(Auth { token: token.clone(), session: None, _scope: PhantomData })
    }
}

impl<S: Scope> FromRequestParts<State> for Auth<S, Page> {
    /// A redirect to `/login` that comes back here.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Response> {
        let allowed = |t: &Token| permit(t, S::NAMES).is_ok();
        if let Some(token) = bearer(parts).ok().flatten().and_then(|s| known(state, s).ok()).filter(|t| allowed(t)) {
            return Ok(Auth { token: token.clone(), session: None, _scope: PhantomData });
        }
        if let Some((token, value)) = session::session(state, &parts.headers)
            && allowed(token)
        {
            return Ok(Auth { token: token.clone(), session: Some(value.to_string()), _scope: PhantomData });
        }
        let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let to =
            if here == "/" { "/login".to_string() } else { format!("/login?next={}", crate::dashboard::encode(here)) };
        Err(session::redirect(&to, &[]))
    }
}

//! Dashboard sign-in: signed sessions, CSRF tokens and the `next` rule.
//!
//! A person signs in with a `read` token once; the server answers with a
//! session cookie that never holds the token: it holds the token's name
//! and an expiry, signed with HMAC-SHA256 under the server's session key
//! (over the token's SHA-256 too, so changing a token's secret in
//! `haul.toml` ends its sessions). The key comes from `HAUL_SESSION_KEY`
//! (at least 32 bytes: give every replica behind one address the same) or
//! is drawn at start, in which case a restart signs everyone out.
//!
//! The sign-in and sign-out forms carry a CSRF token: sign-in pairs a
//! random nonce cookie with its MAC in the form, sign-out the MAC of the
//! session. Signing out is a POST only. After signing in, `next` must be a
//! path on this server; anything a browser could read as another origin
//! (`//host`, `/\host`, tabs or line breaks that browsers drop, their
//! percent-encoded forms, absolute URLs) goes to `/` instead.

use crate::{State, Token};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

pub(crate) const COOKIE: &str = "haul_session";
pub(crate) const CSRF_COOKIE: &str = "haul_csrf";
/// How long a session lasts.
pub(crate) const SESSION_SECS: i64 = 12 * 3600;
const KEY_ENV: &str = "HAUL_SESSION_KEY";

/// Whether `HAUL_SESSION_KEY`, when set, is usable; checked at start.
pub fn check_session_key() -> Result<(), String> {
    match std::env::var(KEY_ENV) {
        Ok(k) if k.len() < 32 => Err(format!("{KEY_ENV} must be at least 32 bytes long (it has {})", k.len())),
        _ => Ok(()),
    }
}

fn key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| match std::env::var(KEY_ENV) {
        Ok(k) if k.len() >= 32 => k.into_bytes(),
        _ => random(32),
    })
}

fn random(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("the system's random source can be read");
    buf
}

fn mac(parts: &[&str]) -> String {
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key()).expect("HMAC takes any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p.as_bytes());
    }
    B64.encode(m.finalize().into_bytes())
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The token whose secret this is, if it may read: the sign-in form's
/// check, by the same rule as `Auth<Read>`.
pub(crate) fn reader<'a>(state: &'a State, secret: &str) -> Result<&'a Token, &'static str> {
    let token = crate::auth::known(state, secret).map_err(|_| "unknown token")?;
    match crate::auth::permit(token, <crate::auth::Read as crate::auth::Scope>::NAMES) {
        Ok(()) => Ok(token),
        Err(_) => Err("this token lacks the `read` scope"),
    }
}

/// When a session cookie's value says it expires (seconds since the
/// epoch); only meaningful for a value [`session`] accepted.
pub(crate) fn expires(value: &str) -> Option<i64> {
    value.split('.').nth(1)?.parse().ok()
}

/// A session cookie's value for `token`, valid until `expires`.
pub(crate) fn session_value(token: &Token, expires: i64) -> String {
    let name = B64.encode(&token.name);
    let sig = mac(&["session", &token.name, &expires.to_string(), &token.sha256.to_lowercase()]);
    format!("{name}.{expires}.{sig}")
}

/// The token a session cookie value stands for, if its signature holds and
/// it has not expired (what it may do is `Auth`'s to judge).
fn session_token<'a>(state: &'a State, value: &str) -> Option<&'a Token> {
    let mut parts = value.split('.');
    let (name, expires, sig) = (parts.next()?, parts.next()?, parts.next()?);
    let name = String::from_utf8(B64.decode(name).ok()?).ok()?;
    let expires: i64 = expires.parse().ok()?;
    if parts.next().is_some() || expires < now() {
        return None;
    }
    let token = state.tokens.iter().find(|t| t.name == name)?;
    let want = mac(&["session", &token.name, &expires.to_string(), &token.sha256.to_lowercase()]);
    same(sig, &want).then_some(token)
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// The token signed in by the session cookie, and its cookie value.
pub(crate) fn session<'a>(state: &'a State, headers: &'a HeaderMap) -> Option<(&'a Token, &'a str)> {
    let value = cookie_value(headers, COOKIE)?;
    session_token(state, value).map(|t| (t, value))
}

/// The CSRF token of the sign-out form for this session.
pub(crate) fn logout_csrf(session: &str) -> String {
    mac(&["logout", session])
}

/// Whether a sign-out form's CSRF token belongs to this request's session.
pub(crate) fn logout_allowed(headers: &HeaderMap, csrf: &str) -> bool {
    cookie_value(headers, COOKIE).is_some_and(|s| same(csrf, &logout_csrf(s)))
}

/// The CSRF token of the dashboard's action forms for this session.
pub(crate) fn action_csrf(session: &str) -> String {
    mac(&["action", session])
}

/// Whether an action form's CSRF token belongs to this request's session:
/// one that came with a session cookie must carry it; a bearer token is
/// no ambient credential a third-party page could borrow.
pub(crate) fn action_allowed(session: Option<&str>, csrf: &str) -> bool {
    session.is_none_or(|s| same(csrf, &action_csrf(s)))
}

/// A fresh nonce for the sign-in form: its cookie value and the form's token.
pub(crate) fn login_csrf() -> (String, String) {
    let nonce = B64.encode(random(16));
    let token = mac(&["login", &nonce]);
    (nonce, token)
}

/// Whether a sign-in form's CSRF token matches the nonce cookie.
pub(crate) fn login_allowed(headers: &HeaderMap, csrf: &str) -> bool {
    cookie_value(headers, CSRF_COOKIE).is_some_and(|n| same(csrf, &mac(&["login", n])))
}

/// Whether the request reached us over https (directly or through a proxy).
pub(crate) fn over_https(headers: &HeaderMap, uri: &Uri) -> bool {
    let forwarded = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    uri.scheme_str() == Some("https")
        || forwarded("x-forwarded-proto").is_some_and(|p| p.split(',').next().is_some_and(|p| p.trim() == "https"))
        || forwarded("forwarded").is_some_and(|f| f.split([';', ',']).any(|p| p.trim() == "proto=https"))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure behind https.
pub(crate) fn cookie(name: &str, value: &str, headers: &HeaderMap, uri: &Uri, max_age: i64) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if over_https(headers, uri) {
        c.push_str("; Secure");
    }
    c
}

/// The session cookie for `token`.
pub(crate) fn session_cookie(token: &Token, headers: &HeaderMap, uri: &Uri) -> String {
    cookie(COOKIE, &session_value(token, now() + SESSION_SECS), headers, uri, SESSION_SECS)
}

/// A 303 to `to`, setting `cookies`.
pub(crate) fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether `p` is plainly a path on this server: it starts with one `/`
/// not followed by `/` or `\`, and holds only the characters of a URL
/// path and query (no spaces, tabs, line breaks, backslashes or others
/// a browser would drop or turn into a `/`).
fn plain_path(p: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(c);
    p.starts_with('/') && !p[1..].starts_with(['/', '\\']) && p.chars().all(allowed)
}

/// Where to go after signing in: `next` when it is a path on this server,
/// as written and once percent-decoded; `/` otherwise.
pub(crate) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if plain_path(n)
                && percent_encoding::percent_decode_str(n).decode_utf8().is_ok_and(|d| {
                    d.starts_with('/')
                        && !d[1..].starts_with(['/', '\\'])
                        && !d.contains(['\\'])
                        && !d.chars().any(char::is_control)
                }) =>
        {
            n
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_redirects_only_to_paths_on_this_server() {
        for good in ["/", "/deployments/3", "/hosts/a%20b", "/promotions/app/prod?x=1"] {
            assert_eq!(safe_next(Some(good)), good);
        }
        let bad = [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5C%5Cevil.example",
            "/x\\y",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/é",
            "",
        ];
        for b in bad {
            assert_eq!(safe_next(Some(b)), "/", "{b:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_nonce_and_session() {
        let (nonce, token) = login_csrf();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{CSRF_COOKIE}={nonce}")).unwrap());
        assert!(login_allowed(&h, &token));
        assert!(!login_allowed(&h, &login_csrf().1));
        assert!(!login_allowed(&HeaderMap::new(), &token));
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}=abc")).unwrap());
        assert!(logout_allowed(&h, &logout_csrf("abc")));
        assert!(!logout_allowed(&h, &logout_csrf("abd")));
    }

    #[test]
    fn https_is_detected_directly_or_through_a_proxy() {
        let uri: Uri = "/".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(!over_https(&h, &uri));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&h, &uri));
        assert!(cookie("x", "v", &h, &uri, 1).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4;proto=https"));
        assert!(over_https(&h, &uri));
    }
}

//! The edge of the server: what every request passes through before and
//! after its handler.
//!
//! Each request gets an id, answered in the `x-request-id` header of every
//! response and in every JSON error, and written in the log line that
//! carries the detail of a server error (which the client never sees).
//! Every text a request carries (path segments, query values, JSON string
//! fields) is checked by the ledger's one text rule here, so a NUL byte or
//! a control character is a 422 naming the field on either database
//! backend, before any handler or query sees it.

use crate::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haul_ledger::text::{self, Kind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being answered (empty outside one).
pub(crate) fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A new request id: unique to this process (a counter) and, with high
/// probability, across replicas and restarts (a hash of the process id
/// and the time the process started).
fn next_id() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let seed = format!("{}:{:?}", std::process::id(), std::time::SystemTime::now());
        Sha256::digest(seed.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
    });
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Gives the request its id, refuses text the ledger cannot keep in its
/// path or query, and stamps the id on the response.
pub(crate) async fn middleware(req: Request, next: Next) -> Response {
    let id = next_id();
    REQUEST_ID
        .scope(id.clone(), async move {
            let mut res = match check_uri(req.uri()) {
                Ok(()) => next.run(req).await,
                Err(e) => e.into_response(),
            };
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert("x-request-id", v);
            }
            res
        })
        .await
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Path segments and query values, decoded, must be lines of text.
fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    for (i, segment) in uri.path().split('/').enumerate().skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| unprocessable(format!("path segment {i} is not UTF-8 once decoded")))?;
        if let Some(why) = text::problem(&decoded, Kind::Line) {
            return Err(unprocessable(format!("path segment {i} {why}")));
        }
    }
    let Some(query) = uri.query() else { return Ok(()) };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s).decode_utf8().map(|c| c.into_owned())
        };
        let key = decode(key).map_err(|_| unprocessable("a query parameter's name is not UTF-8".into()))?;
        let value = decode(value)
            .map_err(|_| unprocessable(format!("query parameter `{}` is not UTF-8", text::clean(&key, Kind::Line))))?;
        if let Some(why) = text::problem(&key, Kind::Line) {
            return Err(unprocessable(format!("a query parameter's name {why}")));
        }
        if let Some(why) = text::problem(&value, Kind::Line) {
            return Err(unprocessable(format!("query parameter `{key}` {why}")));
        }
    }
    Ok(())
}

/// Every string in `v` (by its path, like `hosts[2].error`) meets the text
/// rule for its field.
fn check_json(path: &str, key: &str, v: &Value) -> Result<(), ApiError> {
    match v {
        Value::String(s) => match text::problem(s, Kind::of(key)) {
            Some(why) => Err(unprocessable(format!("`{path}` {why}")).with_field(path)),
            None => Ok(()),
        },
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| check_json(&format!("{path}[{i}]"), key, item))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            check_json(&p, k, item)
        }),
        _ => Ok(()),
    }
}

/// Numbers written with a fraction of zero (`3.0`) are integers in JSON
/// Schema, so they are taken as integers. This needs the JSON reader to
/// round correctly (serde_json's `float_roundtrip`): its default fast path
/// can read `3836882065479486.0` as `…486.5`, a fraction nobody wrote.
fn integral(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f > i64::MIN as f64
                && f < i64::MAX as f64
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral),
        Value::Object(map) => map.values_mut().for_each(integral),
        _ => {}
    }
}

/// A JSON request body whose text fields meet the text rule: 400 when it
/// is not JSON, 415 without a JSON content type, 413 when too large, 422
/// when a field is wrong (named).
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) =
            axum::Json::<Value>::from_request(req, state).await.map_err(|r: JsonRejection| ApiError::from(r))?;
        let mut v = v;
        check_json("", "", &v)?;
        integral(&mut v);
        serde_json::from_value(v).map(Body).map_err(|e| unprocessable(format!("the request body: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_api::requests::RegisterRelease;

    async fn body(json: &str) -> Result<RegisterRelease, ApiError> {
        let req = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(json.to_owned()))
            .unwrap();
        Body::<RegisterRelease>::from_request(req, &()).await.map(|b| b.0)
    }

    fn release(files: &str, bytes: &str) -> String {
        format!(
            r#"{{"app":"app","id":"20261203T092408.176Z-f55610c7fd06","digest":"d","revision":null,
                "built_by":"ci","created":"2026-12-03T09:24:08Z","files":{files},"bytes":{bytes}}}"#
        )
    }

    #[tokio::test]
    async fn a_large_integral_float_is_read_as_the_integer_written() {
        // Found by Schemathesis: without correct rounding this was a 422
        // naming `3836882065479486.5`.
        let r = body(&release("3836882065479486.0", "-26307600325.0")).await.unwrap();
        assert_eq!((r.files, r.bytes), (3836882065479486, -26307600325));
        let r = body(&release("9007199254740993.0", "1e3")).await.unwrap();
        assert_eq!((r.files, r.bytes), (9007199254740992, 1000));
    }

    #[tokio::test]
    async fn a_number_with_a_fraction_is_still_refused_for_an_integer_field() {
        let e = body(&release("3.5", "1")).await.unwrap_err();
        assert!(format!("{e:?}").contains("3.5"), "{e:?}");
        assert!(body(&release("1e300", "1")).await.is_err());
    }
}

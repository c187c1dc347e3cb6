//! Errors as JSON: `{"error": {"status": 409, "message": "…", "request_id": "…"}}`.
//!
//! A server error (500) never carries its cause to the client: the message
//! is generic and names the request id, and the cause is logged on the
//! server's standard error with the same id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Fields merged into the error object (e.g. every candidate of a
    /// refused promotion and what it lacks).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), detail: None }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    /// Names the field at fault (`"field": "hosts[0].error"`).
    pub fn with_field(self, field: &str) -> ApiError {
        self.with_detail(serde_json::json!({ "field": field }))
    }

    /// A server error: `detail` goes to the log with the request id, the
    /// client hears only that it happened and under which id.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        let id = logged(detail);
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the server failed to answer; the cause is logged under request id {id}"),
        )
    }

    /// Something the server relies on besides its database (the object
    /// store of pull deploys) failed: a 502 saying `what` did not happen.
    /// The cause names the store's URL, bucket, endpoint or paths, so it
    /// goes to the log with the request id, as for [`ApiError::internal`].
    pub fn upstream(what: &str, detail: &dyn std::fmt::Display) -> ApiError {
        let id = logged(detail);
        ApiError::new(StatusCode::BAD_GATEWAY, format!("{what}; the cause is logged under request id {id}"))
    }

    /// The database cannot be reached: said plainly (trying again later may
    /// work), the cause logged as for [`ApiError::internal`].
    pub fn unavailable(detail: &dyn std::fmt::Display) -> ApiError {
        let id = logged(detail);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ledger: the database is unavailable; the cause is logged under request id {id}"),
        )
    }
}

/// Writes `detail` to the server's log under this request's id; returns the id.
#[allow(clippy::print_stderr, reason = "the server's log is its standard error")]
fn logged(detail: &dyn std::fmt::Display) -> String {
    let id = crate::edge::request_id();
    eprintln!("haul server: request {id}: {detail}");
    id
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({
            "status": self.status.as_u16(), "message": self.message, "request_id": crate::edge::request_id(),
        });
        if let Some(serde_json::Value::Object(extra)) = self.detail {
            error.as_object_mut().expect("an object").extend(extra);
        }
        let body = serde_json::json!({ "error": error });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<haul_ledger::LedgerError> for ApiError {
    fn from(e: haul_ledger::LedgerError) -> ApiError {
        use haul_ledger::LedgerError as L;
        match &e {
            // Said plainly, the cause logged: trying again later may work.
            _ if e.is_unavailable() => ApiError::unavailable(&e),
            L::Refused(_) | L::Busy(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            L::NoDeployment(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            L::Invalid { field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message.clone()).with_field(field)
            }
            L::Open { .. } | L::Db(_) | L::Write(_) | L::Unavailable(_) | L::BadRow { .. } => ApiError::internal(&e),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> ApiError {
        // Malformed JSON is 400, well-formed but wrong is 422, too large 413.
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

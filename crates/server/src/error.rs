//! Errors as JSON: `{"error": {"status": 409, "message": "…"}}`.

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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "status": self.status.as_u16(), "message": self.message });
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
        let status = match &e {
            _ if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            L::Refused(_) | L::Busy(_) => StatusCode::CONFLICT,
            L::NoDeployment(_) => StatusCode::NOT_FOUND,
            L::Open { .. } | L::Db(_) | L::Write(_) | L::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            L::Unavailable(_) => e.to_string(),
            _ if e.is_unavailable() => {
                format!("ledger: the database is unavailable: {}", e.to_string().trim_start_matches("ledger: "))
            }
            _ => e.to_string(),
        };
        ApiError::new(status, message)
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

//! API errors: JSON with a stable `code` and a human `message`. Every
//! mapping from the pipeline's errors to HTTP statuses lives here, for the
//! standalone API and the gateways' API alike.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::pipeline::error_code::ErrorCode;
use crate::pipeline::intake::IntakeError;
use crate::pipeline::parts::PartError;
use crate::pipeline::queue::QueueError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Why the answer is what it is: refusals are by design (INFO for the
        // caller's mistakes, WARN when the service cannot take work now);
        // ERROR only when the service itself failed.
        let (status, code, reason) = (self.status.as_u16(), self.code, self.message.as_str());
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(status, code, reason, "request failed");
        } else if self.status.is_server_error() {
            tracing::warn!(status, code, reason, "request refused");
        } else {
            tracing::info!(status, code, reason, "request refused");
        }
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// The one table of the pipeline's error codes and their HTTP statuses
/// (exhaustive: a new code must say what it means here).
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::UploadInterrupted | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::QueueUnavailable | ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error of the pipeline: its code, the status the table gives it,
    /// and its message (the causes included, once).
    fn of(code: ErrorCode, e: &dyn std::error::Error) -> ApiError {
        ApiError::new(status_of(code), code.as_str(), e.to_string())
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> ApiError {
        ApiError::of(e.code(), &e)
    }
}

impl From<PartError> for ApiError {
    fn from(e: PartError) -> ApiError {
        ApiError::of(e.code(), &e)
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> ApiError {
        ApiError::of(e.code(), &e)
    }
}

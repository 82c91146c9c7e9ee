//! Standalone API authentication: `Authorization: Bearer <VIDEO_WORKER_API_TOKEN>`.
//! Without a configured token only loopback callers are served (the server
//! then listens on loopback, unless `CORE_HOST` makes it serve gateways).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::service::app::App;

pub async fn require_token(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.config.api_token else {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        if peer.is_some_and(|ip| ip.is_loopback()) {
            return next.run(request).await;
        }
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "without VIDEO_WORKER_API_TOKEN this API answers local callers only",
        )
        .into_response();
    };
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid 'Authorization: Bearer <token>' is required",
        )
        .into_response()
    }
}

/// Compares without revealing, through timing, how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_is_equality() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secreT", b"secret"));
        assert!(!super::constant_time_eq(b"secret1", b"secret"));
        assert!(!super::constant_time_eq(b"", b"secret"));
    }
}

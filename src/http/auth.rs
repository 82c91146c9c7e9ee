//! Standalone API authentication: `Authorization: Bearer <VIDEO_WORKER_API_TOKEN>`,
//! or a console sign-in (a session cookie, and a CSRF token for actions).
//! Without a configured token only loopback callers are served (403 for the
//! others); the server still listens on `BIND_HOST`, so health, /metrics and
//! the gateways (which authenticate through core) answer everyone.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::ui::{Sessions, check_csrf};

/// The API token, when one is configured.
#[derive(Clone)]
pub struct Token(pub Option<Arc<str>>);

/// What the standalone API accepts: the token, or a console sign-in.
#[derive(Clone)]
pub struct ApiAuth {
    pub token: Token,
    pub sessions: Arc<Sessions>,
}

pub async fn require_token(State(auth): State<ApiAuth>, request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // A console sign-in stands for the token; its actions carry the CSRF token.
    if bearer.is_none() && auth.sessions.csrf_of(request.headers()).is_some() {
        let reads = matches!(*request.method(), Method::GET | Method::HEAD);
        if !reads && let Err(refused) = check_csrf(&auth.sessions, request.headers()) {
            return refused.into_response();
        }
        return next.run(request).await;
    }
    let Some(expected) = &auth.token.0 else {
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
    if constant_time_eq(bearer.unwrap_or("").as_bytes(), expected.as_bytes()) {
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
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

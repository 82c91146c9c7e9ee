//! The web console at `/ui/`: plain HTML, CSS and JavaScript embedded in
//! the binary (no CDN, no build step), served on the API's port. It signs
//! in with the API token, then uses the same `/api/v1/` endpoints as
//! everyone else, with a session cookie instead of the token and a CSRF
//! token on every action. A strict Content-Security-Policy allows no inline
//! script or style, so a hostile string shown as text stays text.

pub mod sessions;

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;

use super::auth::{Token, constant_time_eq};
use super::error::ApiError;
pub use sessions::Sessions;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// (name, content type, bytes) of every embedded asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ("login.js", "text/javascript; charset=utf-8", include_str!("assets/login.js")),
    ("favicon.svg", "image/svg+xml", include_str!("assets/favicon.svg")),
];
const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");

#[derive(Clone)]
pub struct Console {
    pub token: Token,
    pub sessions: Arc<Sessions>,
    /// This node's name, shown in the header.
    pub name: String,
}

pub fn router(console: Console) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/session", get(session))
        .route("/ui/assets/{name}", get(asset))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// Every console answer forbids inline code, framing and sniffing.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: with it browsers send `Origin: null` on the
    // console's own form posts, which the origin check must refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The console itself, for signed-in browsers; the others sign in first.
async fn index(State(c): State<Console>, headers: HeaderMap) -> Response {
    match c.sessions.csrf_of(&headers) {
        Some(_) => html(INDEX),
        None => Redirect::to("/ui/login").into_response(),
    }
}

async fn login_page() -> Response {
    html(LOGIN)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Signs in with the API token. Without a configured token only a local
/// browser may sign in (with an empty one), as for the API itself.
async fn login(
    State(c): State<Console>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return ApiError::new(StatusCode::FORBIDDEN, "csrf", "the sign-in came from another site")
            .into_response();
    }
    let right = match &c.token.0 {
        Some(expected) => constant_time_eq(form.token.as_bytes(), expected.as_bytes()),
        None => peer.ip().is_loopback() && form.token.is_empty(),
    };
    if !right {
        tracing::warn!(peer = %peer.ip(), "console sign-in refused: wrong token");
        // Slows guessing down; the token itself is long.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        return Redirect::to("/ui/login?failed").into_response();
    }
    let (id, _) = c.sessions.create();
    tracing::info!(peer = %peer.ip(), "console sign-in");
    let secure = if forwarded_https(&headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        sessions::COOKIE,
        sessions::LIFETIME.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response()
}

/// The CSRF token for the page's actions, and the node's name.
async fn session(State(c): State<Console>, headers: HeaderMap) -> Response {
    match c.sessions.csrf_of(&headers) {
        Some(csrf) => Json(serde_json::json!({ "csrf": csrf, "name": c.name })).into_response(),
        None => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in at /ui/login").into_response()
        }
    }
}

async fn logout(State(c): State<Console>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_csrf(&c.sessions, &headers) {
        return refused.into_response();
    }
    c.sessions.remove(&headers);
    let clear = format!("{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", sessions::COOKIE);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response()
}

/// A signed-in request that changes something must carry the session's
/// CSRF token in `X-CSRF-Token` (a form on another site cannot set it).
pub fn check_csrf(sessions: &Sessions, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = sessions.csrf_of(headers) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in at /ui/login"));
    };
    let given = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) && same_origin(headers) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "csrf", "this action needs the console's X-CSRF-Token"))
    }
}

/// No `Origin`, or one naming the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    super::browser_guard::same_origin(origin, host)
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

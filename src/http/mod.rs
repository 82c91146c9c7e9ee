//! The HTTP API (axum): routes, one file per resource.

pub mod admission;
pub mod auth;
pub mod error;
pub mod gateway;
pub mod gateway_legacy;
pub mod health;
pub mod metrics;
pub mod recordings;
pub mod tasks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::service::app::App;

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/recordings",
            // Bodies stream to disk; the size limit is enforced while streaming.
            post(recordings::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/tasks", get(tasks::list))
        .route("/api/v1/tasks/{id}", get(tasks::get))
        .route("/api/v1/tasks/{id}/log", get(tasks::log))
        .route("/api/v1/tasks/{id}/output", get(tasks::output))
        .route("/api/v1/tasks/{id}/retry", post(tasks::retry))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), auth::require_token));
    // Gateways authenticate through core, not with the API token.
    let gateways = Router::new()
        .route("/api/v2/replay/sessions/{sid}/task/", post(gateway::create))
        .route("/api/v2/replay/sessions/{sid}/task", post(gateway::create))
        .route("/api/v2/replay/sessions/{task}/task/upload/{index}", post(gateway::upload_part))
        .route("/api/v2/replay/sessions/{task}/task/upload/{index}/", post(gateway::upload_part))
        .route("/api/v1/users/profile/", get(gateway_legacy::profile))
        .route("/ws/events/", get(gateway_legacy::events))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/video-worker/health/", get(health::health))
        .route("/video-worker/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .merge(api)
        .merge(gateways)
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

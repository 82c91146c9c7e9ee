//! The HTTP API (axum): routes, one file per resource. Each router gets
//! only the state it needs; `service` builds them all from one [`Parts`].

pub mod admission;
pub mod auth;
pub mod browser_guard;
pub mod error;
pub mod gateway;
pub mod gateway_legacy;
pub mod health;
pub mod metrics;
pub mod overview;
pub mod recordings;
pub mod tasks;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::trace::TraceLayer;

use crate::jumpserver::link::CoreLink;
use crate::pipeline::Pipeline;

/// Everything the routers are made from.
pub struct Parts {
    pub pipeline: Arc<Pipeline>,
    /// JumpServer core, when `CORE_HOST` is set.
    pub link: Option<Arc<CoreLink>>,
    pub admission: admission::Admission,
    pub token: auth::Token,
    pub health: Arc<health::Health>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Parts a gateway may announce for one task.
    pub max_parts_per_task: usize,
    /// Whether this node accepts recordings (not a transcoder).
    pub receives: bool,
    /// Host names served besides loopback ones without a token (`ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
}

/// The standalone API's state.
#[derive(Clone)]
pub struct Api {
    pub pipeline: Arc<Pipeline>,
    pub admission: admission::Admission,
}

/// The gateways' API state.
#[derive(Clone)]
pub struct Gateways {
    pub pipeline: Arc<Pipeline>,
    pub link: Option<Arc<CoreLink>>,
    pub admission: admission::Admission,
    pub max_parts_per_task: usize,
}

pub fn router(parts: Parts) -> Router {
    let api_state = Api { pipeline: parts.pipeline.clone(), admission: parts.admission.clone() };
    // What loopback trust grants (the API, the console) is kept from other web pages.
    let guard = browser_guard::BrowserGuard::new(&parts.allowed_hosts, parts.token.0.is_some());
    let guarded = axum::middleware::from_fn_with_state(guard, browser_guard::check);
    let sessions = Arc::new(ui::Sessions::default());
    let auth = auth::ApiAuth { token: parts.token.clone(), sessions: sessions.clone() };
    let console = ui::router(ui::Console {
        token: parts.token.clone(),
        sessions,
        name: parts.pipeline.settings.name.clone(),
    })
    .route_layer(guarded.clone());
    let health_state = health::HealthState {
        pipeline: parts.pipeline.clone(),
        health: parts.health,
        link: parts.link.clone(),
    };
    let overview = Router::new()
        .route("/api/v1/overview", get(overview::overview))
        .route_layer(axum::middleware::from_fn_with_state(auth.clone(), auth::require_token))
        .route_layer(guarded.clone())
        .with_state(health_state.clone());
    let api = Router::new()
        .route(
            "/api/v1/recordings",
            // Bodies stream to disk; the size limit is enforced while streaming.
            post(recordings::upload).layer(DefaultBodyLimit::disable()),
        )
        .route_layer(axum::middleware::from_fn_with_state(parts.receives, only_receivers))
        .route("/api/v1/tasks", get(tasks::list))
        .route("/api/v1/tasks/{id}", get(tasks::get))
        .route("/api/v1/tasks/{id}/log", get(tasks::log))
        .route("/api/v1/tasks/{id}/output", get(tasks::output))
        .route("/api/v1/tasks/{id}/files/{name}", get(tasks::file))
        .route("/api/v1/tasks/{id}/retry", post(tasks::retry))
        .route_layer(axum::middleware::from_fn_with_state(auth, auth::require_token))
        .route_layer(guarded)
        .with_state(api_state);
    // Gateways authenticate through core, not with the API token.
    let gateway_state = Gateways {
        pipeline: parts.pipeline.clone(),
        link: parts.link.clone(),
        admission: parts.admission,
        max_parts_per_task: parts.max_parts_per_task,
    };
    let gateways = Router::new()
        .route("/api/v2/replay/sessions/{sid}/task/", post(gateway::create))
        .route("/api/v2/replay/sessions/{sid}/task", post(gateway::create))
        .route("/api/v2/replay/sessions/{task}/task/upload/{index}", post(gateway::upload_part))
        .route("/api/v2/replay/sessions/{task}/task/upload/{index}/", post(gateway::upload_part))
        .route("/api/v1/users/profile/", get(gateway_legacy::profile))
        .route("/ws/events/", get(gateway_legacy::events))
        .route_layer(axum::middleware::from_fn_with_state(parts.receives, only_receivers))
        .layer(DefaultBodyLimit::disable())
        .with_state(gateway_state);
    let probes = Router::new()
        .route("/video-worker/health/", get(health::health))
        .route("/video-worker/health", get(health::health))
        .with_state(health_state.clone())
        .route(
            "/metrics",
            get(metrics::metrics)
                .with_state(metrics::MetricsState { health: health_state, handle: parts.metrics }),
        );
    Router::new()
        .merge(probes)
        .merge(api)
        .merge(gateways)
        .merge(overview)
        .merge(console)
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(on_failure),
        )
}

/// A transcoder accepts no recordings: 503, so a gateway falls back to
/// storing its recording itself and a client knows where to go instead.
async fn only_receivers(
    axum::extract::State(receives): axum::extract::State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if receives {
        return next.run(request).await;
    }
    error::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "not_a_receiver",
        "this node only converts (VIDEO_WORKER_ROLE=transcoder): send recordings to a receiver",
    )
    .into_response()
}

/// Request tracing. tower-http counts every 5xx as a failure and logs it at
/// ERROR, but most of this service's 5xx are designed refusals (503: not
/// ready, busy, core unreachable, so the gateway falls back; 507: disk
/// full) whose handler already logged the reason at INFO or WARN. So a
/// status is only noted at DEBUG here, and ERROR is kept for a request the
/// service could not answer at all. The span gives every line logged while
/// a request is served its method and path (never the query or headers).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

fn on_failure(class: ServerErrorsFailureClass, latency: std::time::Duration, _: &tracing::Span) {
    let ms = latency.as_millis() as u64;
    match class {
        ServerErrorsFailureClass::StatusCode(status) => {
            tracing::debug!(status = status.as_u16(), ms, "answered with a server status")
        }
        ServerErrorsFailureClass::Error(error) => tracing::error!(error, ms, "request failed"),
    }
}

//! `GET /metrics` in the Prometheus text format. Like the health probe it
//! needs no token (bind the port accordingly, see docs/operations.md). The
//! recorder is installed once by `service`; this only renders it.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;

use super::health::HealthState;
use crate::pipeline::model::State as TaskState;
use crate::pipeline::queue::count_of;

/// Every counter the service keeps, shown from the start at 0 (a dashboard
/// or an alert on a series that does not exist yet sees nothing).
const COUNTERS: &[&str] = &[
    "video_worker_conversions_total",
    "video_worker_failures_total",
    "video_worker_retries_total",
    "video_worker_bytes_in_total",
    "video_worker_bytes_out_total",
    "video_worker_discarded_tasks_total",
    "video_worker_postprocess_failures_total",
];

/// Makes every counter exist (at 0) once the recorder is installed.
pub fn register_counters() {
    for name in COUNTERS {
        metrics::counter!(*name).increment(0);
    }
    for reason in ["pending", "concurrent"] {
        metrics::counter!("video_worker_refused_uploads_total", "reason" => reason).increment(0);
    }
}

#[derive(Clone)]
pub struct MetricsState {
    pub health: HealthState,
    pub handle: Option<PrometheusHandle>,
}

pub async fn metrics(State(s): State<MetricsState>) -> impl IntoResponse {
    let pipeline = &s.health.pipeline;
    if let Ok(counts) = pipeline.queue.counts().await {
        for (state, n) in &counts {
            metrics::gauge!("video_worker_tasks", "state" => state.as_str()).set(*n as f64);
        }
        metrics::gauge!("video_worker_queue_depth").set(count_of(&counts, TaskState::Queued) as f64);
    }
    if let Ok(n) = pipeline.queue.unpublished().await {
        metrics::gauge!("video_worker_unpublished_tasks").set(n as f64);
    }
    metrics::gauge!("video_worker_busy_workers").set(pipeline.status.busy_workers() as f64);
    metrics::gauge!("video_worker_workers").set(pipeline.settings.workers as f64);
    let text = s.handle.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

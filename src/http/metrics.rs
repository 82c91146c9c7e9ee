//! `GET /metrics` in the Prometheus text format. Like the health probe it
//! needs no token (bind the port accordingly, see docs/operations.md).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::service::app::App;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0])
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Ok(counts) = app.store.counts() {
        for (state, n) in counts {
            metrics::gauge!("video_worker_tasks", "state" => state.as_str()).set(n as f64);
            if state == crate::tasks::model::State::Queued {
                metrics::gauge!("video_worker_queue_depth").set(n as f64);
            }
        }
    }
    metrics::gauge!("video_worker_busy_workers").set(app.busy_workers() as f64);
    metrics::gauge!("video_worker_workers").set(app.config.workers as f64);
    let text = install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

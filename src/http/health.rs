//! `GET /video-worker/health/`: 200 while the worker can work ("ok", or
//! "degraded" with the reasons while core or the storage is out and work
//! waits), 503 when it cannot (data directory not writable, ffmpeg
//! missing). Cheap enough to answer fast while conversions saturate the CPU.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::service::app::App;
use crate::tasks::model::State as TaskState;

pub async fn health(State(app): State<Arc<App>>) -> (StatusCode, Json<serde_json::Value>) {
    let writable = data_dir_writable(&app);
    let ffmpeg = app.ffmpeg_ok.load(Ordering::Relaxed);
    let queued = app
        .store
        .counts()
        .ok()
        .and_then(|c| c.into_iter().find(|(s, _)| *s == TaskState::Queued))
        .map_or(0, |(_, n)| n);
    let ok = writable && ffmpeg;
    let degraded = degraded_because(&app);
    let status = match (ok, degraded.is_empty()) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let body = serde_json::json!({
        "status": status,
        "degraded": degraded,
        "version": env!("CARGO_PKG_VERSION"),
        "name": app.config.name,
        "uptime_seconds": app.started.elapsed().as_secs(),
        "queue_depth": queued,
        "busy_workers": app.busy_workers(),
        "workers": app.config.workers,
        "receiving": app.receiving.load(Ordering::Relaxed),
        "checks": { "data_dir_writable": writable, "ffmpeg": ffmpeg },
    });
    let mut body = body;
    if app.config.core_host.is_some() {
        // Core being down degrades the worker but does not stop it: work in
        // hand goes on; gateways are turned away (they keep their recordings
        // and store them themselves) until core is back. The status says so.
        let refusing = app.core.not_ready();
        body["core"] = serde_json::json!({
            "connected": app.core.connected.load(Ordering::Relaxed),
            "last_error": app.core.last_error(),
            "replay_storage": app.core.storage().map(|s| s.describe()),
            "accepting_gateways": refusing.is_none(),
            "refusing_because": refusing,
        });
    }
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// What an outage outside the worker is holding up: work waits and
/// drains when it returns, so the worker stays healthy (200), but says so.
fn degraded_because(app: &App) -> Vec<String> {
    let mut why = Vec::new();
    if app.config.core_host.is_some() && !app.core.connected.load(Ordering::Relaxed) {
        why.push(format!("core: {}", app.core.last_error().unwrap_or_else(|| "not connected yet".into())));
    }
    if let Some(e) = app.storage_error() {
        why.push(format!("storage: {e}"));
    }
    why
}

fn data_dir_writable(app: &App) -> bool {
    let probe = app.config.data_dir.join(".health-probe");
    let ok = std::fs::write(&probe, b"ok").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

//! Whether a new upload may start: at most `MAX_CONCURRENT_UPLOADS` bodies
//! stream in at once, and no new work is taken while `MAX_PENDING_TASKS`
//! tasks are unfinished (receiving, queued, converting or uploading). Beyond either, the answer is 503: the client keeps its
//! recording (a JumpServer gateway stores it itself) and can come back.

use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::service::app::App;

/// Held while one upload streams in.
pub type Slot = OwnedSemaphorePermit;

/// The upload slots, sized from the configuration.
pub fn slots(max: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(max))
}

/// A slot for one upload, or why not (status and message).
pub fn admit(app: &App) -> Result<Slot, (StatusCode, String)> {
    let busy = |m: String| (StatusCode::SERVICE_UNAVAILABLE, m);
    let pending: u64 = app
        .store
        .counts()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .into_iter()
        .filter(|(s, _)| !s.is_finished())
        .map(|(_, n)| n)
        .sum();
    if pending >= app.config.max_pending_tasks {
        metrics::counter!("video_worker_refused_uploads_total", "reason" => "pending").increment(1);
        return Err(busy(format!("{pending} tasks are waiting (MAX_PENDING_TASKS); try again later")));
    }
    app.upload_slots.clone().try_acquire_owned().map_err(|_| {
        metrics::counter!("video_worker_refused_uploads_total", "reason" => "concurrent").increment(1);
        busy("too many uploads at once (MAX_CONCURRENT_UPLOADS); try again later".into())
    })
}

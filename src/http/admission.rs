//! Whether a new upload may start: at most `MAX_CONCURRENT_UPLOADS` bodies
//! stream in at once, and no new work is taken while `MAX_PENDING_TASKS`
//! tasks are unfinished (receiving, queued, converting or uploading). Beyond
//! either, the answer is 503: the client keeps its recording (a JumpServer
//! gateway stores it itself) and can come back.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::pipeline::queue::{Queue, pending};

/// Held while one upload streams in.
pub type Slot = OwnedSemaphorePermit;

#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_pending: u64,
}

impl Admission {
    pub fn new(max_concurrent: usize, max_pending: u64) -> Admission {
        Admission { slots: Arc::new(Semaphore::new(max_concurrent)), max_pending }
    }

    /// A slot for one upload of new work, or why not.
    pub async fn admit(&self, queue: &dyn Queue) -> Result<Slot, ApiError> {
        let pending = pending(&queue.counts().await?);
        if pending >= self.max_pending {
            metrics::counter!("video_worker_refused_uploads_total", "reason" => "pending").increment(1);
            return Err(ApiError::busy(format!(
                "{pending} tasks are waiting (MAX_PENDING_TASKS); try again later"
            )));
        }
        self.stream_slot()
    }

    /// A slot for a body that is not new work (a part of an announced task).
    pub fn stream_slot(&self) -> Result<Slot, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("video_worker_refused_uploads_total", "reason" => "concurrent").increment(1);
            ApiError::busy("too many uploads at once (MAX_CONCURRENT_UPLOADS); try again later")
        })
    }
}

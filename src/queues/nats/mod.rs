//! The cluster queue: task records, work and staged recordings on NATS
//! JetStream, so receivers and transcoders on several machines share one
//! queue (`NATS_URL`). The embedded single node (SQLite) is untouched.
//!
//! ```text
//! receiver: upload → DATA_DIR (durable) → 2xx → outbox ─┐ stage input, record, publish job
//!                                                       ▼
//!            KV  video_worker_tasks      (one record per task, every node reads it)
//!            OBJ video_worker_staging    (<task>/input/NNNN.guac, <task>/task.log)
//!            STREAM VIDEO_WORKER_JOBS    (work queue, durable pull consumer "transcoders")
//!                                                       │
//! transcoder: free slot → fetch 1 → download input → convert, store, report → ack
//! ```
//!
//! A received recording is deleted from its receiver only once it is staged;
//! the staged copy and the job go only once the outputs are stored and core
//! (if any) was told. See docs/scaling.md.

mod connect;
mod lease;
mod outbox;
mod queue;
mod records;
mod staging;

pub use connect::{Objects, connect};
pub use queue::{Background, NatsQueue};
pub use staging::{NatsStaging, S3Staging, Staging, StagingError};

/// The JetStream objects the worker creates when absent.
pub const STREAM: &str = "VIDEO_WORKER_JOBS";
pub const SUBJECT: &str = "video_worker.jobs";
pub const CONSUMER: &str = "transcoders";
pub const TASKS_BUCKET: &str = "video_worker_tasks";
pub const STAGING_BUCKET: &str = "video_worker_staging";

/// A cluster fault, with its cause.
#[derive(Debug, thiserror::Error)]
#[error("NATS: {what}: {cause}")]
pub struct ClusterError {
    pub what: String,
    pub cause: String,
}

impl ClusterError {
    pub fn new(what: impl Into<String>, cause: impl std::fmt::Display) -> ClusterError {
        ClusterError { what: what.into(), cause: cause.to_string() }
    }
}

impl From<ClusterError> for crate::pipeline::queue::QueueError {
    fn from(e: ClusterError) -> Self {
        crate::pipeline::queue::QueueError::Unavailable(e.to_string())
    }
}

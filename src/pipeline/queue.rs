//! The queue seam: task records and the work they stand for, as four small
//! role traits ([`TaskStore`], [`WorkQueue`], [`GatewayParts`],
//! [`QueueHealth`]) that [`Queue`] puts together. The adapters live outside
//! the pipeline: `queues::sqlite` (one node) and `queues::nats` (a cluster
//! on NATS JetStream).
//!
//! Work is handed out as a [`Lease`]: whoever holds it converts the task,
//! reports progress through it (which also keeps it alive, for queues whose
//! claims expire), and settles it with one [`Outcome`].

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::model::{Output, State, Task};

pub type QueueFuture<'a, T> = BoxFuture<'a, Result<T, QueueError>>;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The store itself failed (a database error, with its cause).
    #[error("task store: {0}")]
    Store(#[source] BoxError),
    #[error("task store: {what}: {source}")]
    Record {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("task store: the blocking call failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("task queue unavailable: {0}")]
    Unavailable(String),
    /// The lease is no longer this attempt's: another node claimed the task
    /// (this one was cut off longer than the claim lasts). Its writes and
    /// effects are refused.
    #[error("task {0}: the claim was lost to another node; this attempt's result is refused")]
    LostClaim(String),
}

impl QueueError {
    /// Whether the same call may succeed later (every queue fault is, today:
    /// a busy database, a queue server away).
    pub fn is_transient(&self) -> bool {
        true
    }

    pub fn code(&self) -> super::error_code::ErrorCode {
        super::error_code::ErrorCode::QueueUnavailable
    }
}

/// One page of tasks, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Task>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<State>,
    /// Only tasks whose session id starts with this.
    pub session: Option<String>,
    /// A task id: list the tasks after it.
    pub cursor: Option<String>,
    pub limit: usize,
}

/// A completed upload, ready for a worker.
#[derive(Debug, Clone)]
pub struct Received {
    pub session_id: String,
    pub parts: u32,
    pub bytes: u64,
    /// The client's metadata, when it came after the task began.
    pub metadata: Option<serde_json::Value>,
}

/// What a start-up recovery found and did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Uploads that never completed: their tasks are gone, their
    /// directories must be removed.
    pub abandoned_uploads: Vec<String>,
    /// Tasks that were converting or uploading, queued again.
    pub resumed: Vec<String>,
}

/// How a leased task ended this time.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Stored; `note` says what went differently (kept as `last_error`).
    Done { outputs: Vec<Output>, note: Option<String> },
    /// Failed for good.
    Failed { error: String },
    /// A transient failure: queued again, due after `delay_ms`.
    Retry { error: String, delay_ms: i64 },
}

/// A claimed task, held while it is worked on.
pub trait Lease: Send + Sync {
    fn task(&self) -> &Task;

    /// Progress (0 to 1); also tells the queue the holder is alive.
    fn progress(&self, fraction: f64) -> QueueFuture<'_, ()>;

    /// The task's files are made and are being stored.
    fn uploading<'a>(&'a self, outputs: &'a [Output]) -> QueueFuture<'a, ()>;

    /// Settles the task; the lease is over.
    fn settle(self: Box<Self>, outcome: Outcome) -> QueueFuture<'static, ()>;

    /// Says the lease still holds the task, before an effect outside the
    /// queue (telling core): a lost claim answers [`QueueError::LostClaim`].
    fn confirm(&self) -> QueueFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Whether the claim was lost (the attempt's result will be refused).
    fn is_lost(&self) -> bool {
        false
    }
}

/// The task records: what every view and every step reads and writes.
pub trait TaskStore: Send + Sync {
    /// Records a new task (state `receiving`).
    fn insert(&self, task: Task) -> QueueFuture<'_, ()>;

    fn get<'a>(&'a self, id: &'a str) -> QueueFuture<'a, Option<Task>>;

    fn list(&self, query: ListQuery) -> QueueFuture<'_, Page>;

    /// Number of tasks in each state (every state listed).
    fn counts(&self) -> QueueFuture<'_, Vec<(State, u64)>>;

    /// Removes a task's record (an upload given up, or cleanup).
    fn delete<'a>(&'a self, id: &'a str) -> QueueFuture<'a, ()>;

    /// Done tasks whose end is older than `before` (Unix ms).
    fn done_before(&self, before: i64) -> QueueFuture<'_, Vec<Task>>;

    /// Whether an unfinished task already holds this inbox file.
    fn inbox_file_taken<'a>(&'a self, path: &'a str) -> QueueFuture<'a, bool>;

    /// The log of a task kept by the store once the task ended (a cluster
    /// keeps it where every node reads it); `None`: read the task directory.
    fn archived_log<'a>(&'a self, _id: &'a str) -> QueueFuture<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }
}

/// The work: tasks handed to workers as leases, once each.
pub trait WorkQueue: Send + Sync {
    /// The upload is complete: the task waits for a worker.
    fn enqueue<'a>(&'a self, id: &'a str, received: Received) -> QueueFuture<'a, ()>;

    /// The next due task, claimed for `worker`; waits up to `wait` for one,
    /// and answers `None` without claiming once `stop` is cancelled. Callers
    /// must not drop this future to stop it: a claim in flight would leave a
    /// task marked as converting that nobody converts until the next start.
    fn next<'a>(
        &'a self,
        worker: &'a str,
        wait: Duration,
        stop: &'a CancellationToken,
    ) -> QueueFuture<'a, Option<Box<dyn Lease>>>;

    /// A failed task queued again by an admin; its attempts start over.
    fn requeue_failed<'a>(&'a self, id: &'a str) -> QueueFuture<'a, bool>;

    /// After a crash or restart: unfinished uploads are dropped (their
    /// client never got an answer), interrupted work is queued again.
    fn recover(&self) -> QueueFuture<'_, Recovery>;

    /// Shutdown's grace period is over with work still running: give it back
    /// now, so another node takes it at once (a single node resumes it at its
    /// next start, so it has nothing to do).
    fn hand_back(&self) -> QueueFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Recordings announced in parts (the gateways' protocol), which may
/// arrive on any node of a cluster.
pub trait GatewayParts: Send + Sync {
    /// Parts of a gateway task arrived so far (also marks it active).
    fn set_received<'a>(&'a self, id: &'a str, parts: u32, bytes: u64) -> QueueFuture<'a, ()>;

    /// Gateway tasks still receiving with no activity since `before` (Unix ms).
    fn idle_receiving(&self, before: i64) -> QueueFuture<'_, Vec<String>>;

    /// Part `index` of gateway task `id` is durably at `path` (`size`
    /// bytes): a queue shared by several nodes takes it in and answers every
    /// part that arrived so far, on any node; `None`: the parts are the files
    /// in the task directory (a single node).
    fn part_received<'a>(
        &'a self,
        _id: &'a str,
        _index: u32,
        _path: &'a std::path::Path,
        _size: u64,
    ) -> QueueFuture<'a, Option<Vec<(u32, u64)>>> {
        Box::pin(async { Ok(None) })
    }
}

/// What health says about the queue.
pub trait QueueHealth: Send + Sync {
    /// Which queue this is ("sqlite", "nats").
    fn kind(&self) -> &'static str;

    /// Why the queue works in a reduced way now (health says degraded).
    fn problem(&self) -> Option<String> {
        None
    }

    /// Tasks received here that still wait to be handed to a shared queue.
    fn unpublished(&self) -> QueueFuture<'_, u64> {
        Box::pin(async { Ok(0) })
    }
}

/// The whole seam, as the pipeline holds it: each role is small, and an
/// adapter (`queues::sqlite`, `queues::nats`) implements all four.
pub trait Queue: TaskStore + WorkQueue + GatewayParts + QueueHealth {}

impl<T: TaskStore + WorkQueue + GatewayParts + QueueHealth> Queue for T {}

/// Unfinished tasks (receiving, queued, converting or uploading).
pub fn pending(counts: &[(State, u64)]) -> u64 {
    counts.iter().filter(|(s, _)| !s.is_finished()).map(|(_, n)| n).sum()
}

/// Tasks in one state.
pub fn count_of(counts: &[(State, u64)], state: State) -> u64 {
    counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n)
}

//! The state the service's parts share: configuration, the task store, the
//! storage, and the counters the health endpoint and metrics read.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::storage::Storage;
use crate::tasks::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub storage: Arc<dyn Storage>,
    pub started: Instant,
    /// Conversions running now.
    pub busy: AtomicUsize,
    /// Uploads being received now.
    pub receiving: AtomicUsize,
    /// Whether ffmpeg answered the last check.
    pub ffmpeg_ok: AtomicBool,
    /// Woken when a task becomes ready, so workers start at once.
    pub wake: Notify,
    /// Cancelled on SIGTERM/SIGINT: stop taking work.
    pub shutdown: CancellationToken,
}

impl App {
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.config.tasks_dir().join(id)
    }

    pub fn busy_workers(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }
}

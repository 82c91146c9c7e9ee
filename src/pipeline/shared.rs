//! What intake, the worker pool and processing share: the settings, the
//! queue, the key, the ports, shutdown, and the live status.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::parts::Receiving;
use super::ports::{Destinations, Reporting};
use super::queue::Queue;
use super::task_dir::TaskDir;
use crate::encode::EncodeSettings;
use crate::seal::Key;

/// The settings the pipeline runs with (a part of the service's configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATA_DIR/tasks`: one directory per task.
    pub tasks_dir: PathBuf,
    /// This worker's `NAME`.
    pub name: String,
    /// Conversions at once.
    pub workers: usize,
    pub encode: EncodeSettings,
    pub max_upload_bytes: u64,
    pub retry_max_delay: Duration,
    pub shutdown_grace: Duration,
    /// How long a gateway task may wait for its next part.
    pub incomplete_task_timeout: Duration,
    pub inbox_dir: Option<PathBuf>,
    pub inbox_poll: Duration,
    pub post_processing_scripts: Vec<PathBuf>,
    pub post_processing_timeout: Duration,
    /// Days after which finished tasks are removed.
    pub clean_period_days: u32,
    /// What this node does (receives, converts, or both).
    pub role: super::role::Role,
    /// How terminal recordings are shown (the font).
    pub open: crate::playback::OpenOptions,
    /// The keystroke track and thumbnails made beside each video.
    pub extras: crate::convert::Extras,
}

/// What health and metrics read of the pipeline while it runs.
#[derive(Default)]
pub struct Status {
    /// Conversions running now.
    pub busy: AtomicUsize,
    /// Uploads being received now.
    pub receiving: AtomicUsize,
    /// The last storage failure, until a store succeeds (health: degraded).
    storage_error: Mutex<Option<String>>,
}

impl Status {
    pub fn set_storage_error(&self, e: Option<String>) {
        *self.storage_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn storage_error(&self) -> Option<String> {
        self.storage_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn busy_workers(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    pub fn receiving(&self) -> usize {
        self.receiving.load(Ordering::Relaxed)
    }
}

/// Everything intake, the worker pool and processing share.
pub struct Pipeline {
    pub settings: Settings,
    pub queue: Arc<dyn Queue>,
    /// Seals received recordings and opens sealed ones (`VIDEO_WORKER_SECRET_KEY`).
    pub key: Option<Arc<Key>>,
    pub destinations: Arc<dyn Destinations>,
    pub reporting: Arc<dyn Reporting>,
    /// Cancelled on SIGTERM/SIGINT: stop taking work.
    pub shutdown: CancellationToken,
    /// Every background task of the service: shutdown waits for them all.
    pub tracker: TaskTracker,
    pub status: Status,
    /// Gateway tasks with a part streaming in now (never expired meanwhile).
    pub(crate) parts_in_flight: Receiving,
}

impl Pipeline {
    pub fn new(
        settings: Settings,
        queue: Arc<dyn Queue>,
        key: Option<Arc<Key>>,
        destinations: Arc<dyn Destinations>,
        reporting: Arc<dyn Reporting>,
    ) -> Pipeline {
        Pipeline {
            settings,
            queue,
            key,
            destinations,
            reporting,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            status: Status::default(),
            parts_in_flight: Receiving::default(),
        }
    }

    pub fn task_dir(&self, id: &str) -> TaskDir {
        TaskDir::new(&self.settings.tasks_dir, id)
    }
}

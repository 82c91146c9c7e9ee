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
    /// JumpServer core, when `CORE_HOST` is set.
    pub core: CoreState,
}

impl App {
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.config.tasks_dir().join(id)
    }

    pub fn busy_workers(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }
}

/// What the worker knows of JumpServer core (when `CORE_HOST` is set).
#[derive(Default)]
pub struct CoreState {
    pub connected: AtomicBool,
    last_error: std::sync::Mutex<Option<String>>,
    storage: std::sync::Mutex<Option<crate::jumpserver::replay_storage::ReplayStorage>>,
}

impl CoreState {
    pub fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_storage(&self, s: crate::jumpserver::replay_storage::ReplayStorage) {
        let mut slot = self.storage.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref() != Some(&s) {
            tracing::info!(storage = %s.describe(), "replay storage from core");
        }
        *slot = Some(s);
    }

    pub fn storage(&self) -> Option<crate::jumpserver::replay_storage::ReplayStorage> {
        self.storage.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

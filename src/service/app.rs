//! The state the service's parts share: configuration, the task store, the
//! storage, and the counters the health endpoint and metrics read.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::jumpserver::core_client::CoreClient;
use crate::jumpserver::gateway_auth::GatewayAuth;
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
    /// Gateway tasks with a part streaming in now.
    pub parts: crate::tasks::parts::Receiving,
    /// One permit per upload streaming in (`MAX_CONCURRENT_UPLOADS`).
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// The last storage failure, until a store succeeds (health: degraded).
    pub storage_error: std::sync::Mutex<Option<String>>,
}

impl App {
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.config.tasks_dir().join(id)
    }

    /// Records how the last attempt to store went.
    pub fn set_storage_error(&self, e: Option<String>) {
        *self.storage_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn storage_error(&self) -> Option<String> {
        self.storage_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn busy_workers(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }
}

/// What the worker knows of JumpServer core (when `CORE_HOST` is set).
#[derive(Default)]
pub struct CoreState {
    /// The client, set once at start when `CORE_HOST` is configured.
    pub client: std::sync::OnceLock<std::sync::Arc<CoreClient>>,
    /// Checks gateways' credentials through core.
    pub gateway_auth: std::sync::OnceLock<GatewayAuth>,
    /// Cookie sessions for old Lions.
    pub legacy_sessions: std::sync::OnceLock<crate::jumpserver::legacy_session::LegacySessions>,
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

    /// Why gateways must not hand recordings over now, if they must not: a
    /// gateway deletes its copy once the worker accepts, so the worker
    /// accepts only while it can reach core and knows where replays go.
    pub fn not_ready(&self) -> Option<String> {
        if self.client.get().is_none() {
            return Some("CORE_HOST is not set: this worker does not serve gateways".into());
        }
        if !self.connected.load(std::sync::atomic::Ordering::Relaxed) {
            let why = self.last_error().unwrap_or_else(|| "not registered yet".into());
            return Some(format!("not connected to core: {why}"));
        }
        if self.storage().is_none() {
            return Some("the replay storage settings have not been read from core yet".into());
        }
        None
    }
}

//! The worker's link to JumpServer core, when `CORE_HOST` is set: the core
//! client, the gateways' authentication, old Lions' cookie sessions, and
//! what the worker knows of core right now (connected or why not, and the
//! replay storage core assigned). The connection loop (`connect`) keeps it
//! current; the gateway API and the pipeline's ports read it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

use super::core_client::CoreClient;
use super::gateway_auth::GatewayAuth;
use super::legacy_session::LegacySessions;
use super::replay_storage::ReplayStorage;

/// What registering with core needs.
#[derive(Debug, Clone)]
pub struct Identity {
    /// This worker's `NAME` in core.
    pub name: String,
    pub bootstrap_token: Option<String>,
    /// `DATA_DIR`: the key file lives under it, and the heartbeat reports its disk.
    pub data_dir: PathBuf,
}

pub struct CoreLink {
    pub client: Arc<CoreClient>,
    pub gateway_auth: GatewayAuth,
    pub legacy_sessions: LegacySessions,
    pub identity: Identity,
    /// Stops the connection loop and the heartbeat.
    pub shutdown: CancellationToken,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
    storage: Mutex<Option<ReplayStorage>>,
}

impl CoreLink {
    pub fn new(
        client: Arc<CoreClient>,
        legacy_sessions: LegacySessions,
        identity: Identity,
        shutdown: CancellationToken,
    ) -> CoreLink {
        CoreLink {
            gateway_auth: GatewayAuth::new(client.clone()),
            client,
            legacy_sessions,
            identity,
            shutdown,
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
            storage: Mutex::new(None),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        if connected {
            self.set_error(None);
        }
    }

    pub fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_storage(&self, s: ReplayStorage) {
        let mut slot = self.storage.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref() != Some(&s) {
            tracing::info!(storage = %s.describe(), "replay storage from core");
        }
        *slot = Some(s);
    }

    pub fn storage(&self) -> Option<ReplayStorage> {
        self.storage.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why gateways must not hand recordings over now, if they must not: a
    /// gateway deletes its copy once the worker accepts, so the worker
    /// accepts only while it can reach core and knows where replays go.
    pub fn not_ready(&self) -> Option<String> {
        if !self.is_connected() {
            let why = self.last_error().unwrap_or_else(|| "not registered yet".into());
            return Some(format!("not connected to core: {why}"));
        }
        if self.storage().is_none() {
            return Some("the replay storage settings have not been read from core yet".into());
        }
        None
    }
}

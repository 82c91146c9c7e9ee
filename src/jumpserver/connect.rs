//! Keeping the worker known to core: at start, load the stored access key
//! and check it (`GET /api/v1/users/profile/`); register with
//! `BOOTSTRAP_TOKEN` when there is none or core refuses it (401). Then a
//! heartbeat every 30 s (see `heartbeat`) and the terminal config (with the
//! replay storage) every minute. Core being down only delays all this, with backoff: it
//! never blocks the health endpoint or the uploads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::core_client::{CoreClient, CoreError};
use super::heartbeat;
use super::keyfile;
use super::replay_storage::ReplayStorage;
use crate::service::app::App;

const CONFIG_EVERY: Duration = Duration::from_secs(60);

/// Runs until shutdown.
pub async fn run(app: Arc<App>, core: Arc<CoreClient>) {
    let mut failures = 0u32;
    loop {
        match connect(&app, &core).await {
            Ok(()) => {
                failures = 0;
                app.core.connected.store(true, Ordering::Relaxed);
                app.core.set_error(None);
                tracing::info!("registered with core");
                if keep_alive(&app, &core).await.is_err() {
                    return; // shutdown
                }
                app.core.connected.store(false, Ordering::Relaxed);
            }
            Err(e) => {
                failures += 1;
                let delay = Duration::from_secs((5u64 << failures.min(6)).min(300));
                tracing::error!(error = %e, retry_in_s = delay.as_secs(), "cannot connect to core");
                app.core.set_error(Some(e.to_string()));
                tokio::select! {
                    _ = app.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Loads or obtains a valid access key.
pub async fn connect(app: &App, core: &CoreClient) -> Result<(), CoreError> {
    let path = keyfile::key_path(&app.config.data_dir);
    let stored = keyfile::load(&path).map_err(|e| key_file_error(&path, e))?;
    if let Some(key) = stored {
        core.set_key(key);
        match core.profile().await {
            Ok(_) => return Ok(()),
            Err(CoreError::Unauthorized) => {
                tracing::warn!("core refused the stored access key; registering again")
            }
            Err(e) => return Err(e),
        }
    }
    let Some(token) = &app.config.bootstrap_token else {
        return Err(CoreError::NoBootstrapToken);
    };
    let key = core.register(&app.config.name, token).await?;
    keyfile::save(&path, &key).map_err(|e| key_file_error(&path, e))?;
    tracing::info!(key_id = %key.id, file = %path.display(), "new access key stored");
    core.set_key(key);
    core.profile().await.map(|_| ())
}

fn key_file_error(path: &std::path::Path, e: std::io::Error) -> CoreError {
    CoreError::KeyFile { path: path.display().to_string(), cause: e.to_string() }
}

/// Heartbeats (WebSocket, REST as fallback) with the config refreshed every
/// minute beside them; returns `Ok` when core stops accepting the key (to
/// register again), `Err` on shutdown.
async fn keep_alive(app: &Arc<App>, core: &Arc<CoreClient>) -> Result<(), ()> {
    let refresher = tokio::spawn(refresh_config(app.clone(), core.clone()));
    let outcome = heartbeat::run(app, core).await;
    refresher.abort();
    outcome
}

async fn refresh_config(app: Arc<App>, core: Arc<CoreClient>) {
    loop {
        match core.terminal_config().await {
            Ok(config) => app.core.set_storage(ReplayStorage::parse(&config["TERMINAL_REPLAY_STORAGE"])),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the terminal config"),
        }
        tokio::time::sleep(CONFIG_EVERY).await;
    }
}

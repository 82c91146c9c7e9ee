//! Keeping the worker known to core: at start, load the stored access key
//! and check it (`GET /api/v1/users/profile/`); register with
//! `BOOTSTRAP_TOKEN` when there is none or core refuses it (401). Then a
//! heartbeat every 30 s (see `heartbeat`) and the terminal config (with the
//! replay storage) every minute. Core being down only delays all this, with backoff: it
//! never blocks the health endpoint or the uploads.

use std::sync::Arc;
use std::time::Duration;

use super::core_client::CoreError;
use super::heartbeat;
use super::keyfile;
use super::link::CoreLink;
use super::replay_storage::ReplayStorage;

const CONFIG_EVERY: Duration = Duration::from_secs(60);

/// Runs until shutdown.
pub async fn run(link: Arc<CoreLink>) {
    let mut failures = 0u32;
    loop {
        match connect(&link).await {
            Ok(()) => {
                failures = 0;
                link.set_connected(true);
                tracing::info!("registered with core");
                if keep_alive(&link).await.is_err() {
                    return; // shutdown
                }
                link.set_connected(false);
            }
            Err(e) => {
                failures += 1;
                let delay = Duration::from_secs((5u64 << failures.min(6)).min(300));
                // Core down, its registration window closed, a taken NAME: conditions
                // outside the worker, retried, and shown in health. Only the worker's
                // own key file failing is its fault.
                if matches!(e, CoreError::KeyFile { .. }) {
                    tracing::error!(error = %e, retry_in_s = delay.as_secs(), "cannot connect to core");
                } else {
                    tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "cannot connect to core");
                }
                link.set_error(Some(e.to_string()));
                tokio::select! {
                    _ = link.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Loads or obtains a valid access key.
pub async fn connect(link: &CoreLink) -> Result<(), CoreError> {
    let core = &link.client;
    let me = &link.identity;
    let path = keyfile::key_path(&me.data_dir);
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
    let Some(token) = &me.bootstrap_token else {
        return Err(CoreError::NoBootstrapToken);
    };
    let key = core.register(&me.name, token).await?;
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
async fn keep_alive(link: &Arc<CoreLink>) -> Result<(), ()> {
    let refresher = tokio::spawn(refresh_config(link.clone()));
    let outcome = heartbeat::run(link).await;
    refresher.abort();
    outcome
}

async fn refresh_config(link: Arc<CoreLink>) {
    loop {
        match link.client.terminal_config().await {
            Ok(config) => link.set_storage(ReplayStorage::parse(&config["TERMINAL_REPLAY_STORAGE"])),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the terminal config"),
        }
        tokio::time::sleep(CONFIG_EVERY).await;
    }
}

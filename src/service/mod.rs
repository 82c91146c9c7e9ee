//! `video-worker serve`: builds the service from its configuration and runs
//! it until SIGTERM/SIGINT. The same [`start`] is what the tests run.

pub mod app;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::storage::LocalStorage;
use crate::tasks::store::Store;
use crate::tasks::{cleanup, inbox, pool};

pub use app::App;

/// Opens the data directory, the store and the storage. Recovery from the
/// last run is [`run`]'s job, so one-shot commands can open a live store.
pub fn open(config: Config) -> anyhow::Result<Arc<App>> {
    std::fs::create_dir_all(config.tasks_dir())
        .map_err(|e| anyhow::anyhow!("DATA_DIR {}: cannot create: {e}", config.data_dir.display()))?;
    if let Some(secret) = &config.secret_key {
        crate::seal::install(
            crate::seal::Key::from_secret(secret)
                .map_err(|e| anyhow::anyhow!("VIDEO_WORKER_SECRET_KEY: {e}"))?,
        );
    }
    let store = Store::open(&config.data_dir.join("tasks.db"))?;
    let storage = LocalStorage::new(&config.local_storage_dir)
        .map_err(|e| anyhow::anyhow!("LOCAL_STORAGE_DIR: {e}"))?;
    let upload_slots = crate::http::admission::slots(config.max_concurrent_uploads);
    let app = Arc::new(App {
        config,
        store,
        storage: Arc::new(storage),
        started: Instant::now(),
        busy: AtomicUsize::new(0),
        receiving: AtomicUsize::new(0),
        ffmpeg_ok: AtomicBool::new(false),
        wake: Notify::new(),
        shutdown: CancellationToken::new(),
        core: app::CoreState::default(),
        parts: Default::default(),
        upload_slots,
        storage_error: Default::default(),
    });
    Ok(app)
}

fn recover(app: &App) -> anyhow::Result<()> {
    let r = app.store.recover()?;
    for id in &r.abandoned_uploads {
        let _ = std::fs::remove_dir_all(app.task_dir(id));
        tracing::warn!(task = %id, "an upload interrupted by the last shutdown was discarded");
    }
    for id in &r.resumed {
        crate::tasks::tasklog::TaskLog::new(&app.task_dir(id)).line("resumed after a restart");
        tracing::info!(task = %id, "resuming an interrupted task");
    }
    Ok(())
}

/// Runs the service until shutdown.
pub async fn run(app: Arc<App>) -> anyhow::Result<()> {
    recover(&app)?;
    let c = &app.config;
    let addr = std::net::SocketAddr::new(c.bind_host, c.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (BIND_HOST/HTTPD_PORT): {e}"))?;
    announce(&app, addr);
    crate::http::metrics::install();
    spawn_signal_handler(app.shutdown.clone());
    check_ffmpeg(&app).await;
    let checker = tokio::spawn(recheck_ffmpeg(app.clone()));
    if let Some(host) = &c.core_host {
        let client = crate::jumpserver::core_client::CoreClient::new(host, c.ignore_verify_certs)
            .map_err(|e| anyhow::anyhow!(e))?;
        let client = Arc::new(client);
        let _ = app.core.client.set(client.clone());
        let _ = app.core.gateway_auth.set(crate::jumpserver::gateway_auth::GatewayAuth::new(client.clone()));
        let sessions = crate::jumpserver::legacy_session::LegacySessions::open(&c.data_dir.join("keys"))
            .map_err(|e| anyhow::anyhow!("DATA_DIR/keys/.session_key: {e}"))?;
        let _ = app.core.legacy_sessions.set(sessions);
        tokio::spawn(crate::jumpserver::connect::run(app.clone(), client));
        tokio::spawn(crate::tasks::parts::expire_loop(app.clone()));
    }
    // After the core client is in place: resumed gateway tasks report to core.
    let workers = tokio::spawn(pool::run(app.clone()));
    if let Some(dir) = c.inbox_dir.clone() {
        tokio::spawn(inbox::watch(app.clone(), dir));
    }
    let mut scheduler = cleanup::schedule(app.clone()).await.map_err(|e| anyhow::anyhow!(e))?;
    let token = app.shutdown.clone();
    let router = crate::http::router(app.clone());
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await?;
    tracing::info!("no longer accepting requests; finishing running conversions");
    let _ = workers.await;
    checker.abort();
    let _ = scheduler.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn announce(app: &App, addr: std::net::SocketAddr) {
    let c = &app.config;
    tracing::info!(
        %addr, name = %c.name, workers = c.workers, data_dir = %c.data_dir.display(),
        storage = %app.storage.describe(), "video-worker listening"
    );
    if c.loopback_only {
        tracing::warn!(
            "VIDEO_WORKER_API_TOKEN is not set: listening on loopback only; set a token to accept remote uploads"
        );
    }
    if let Some(core) = &c.core_host {
        tracing::info!(core_host = %core, "CORE_HOST is set: serving JumpServer gateways; replays go where core says");
    }
    if c.secret_key.is_none() {
        tracing::warn!("VIDEO_WORKER_SECRET_KEY is not set: received recordings wait on disk unsealed");
    }
}

fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

/// Whether `ffmpeg -version` runs; the health endpoint reports it.
async fn check_ffmpeg(app: &App) {
    let ok = tokio::process::Command::new(&app.config.encode.ffmpeg)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    let was = app.ffmpeg_ok.swap(ok, Ordering::Relaxed);
    if !ok && (was || app.started.elapsed() < Duration::from_secs(5)) {
        tracing::error!(ffmpeg = %app.config.encode.ffmpeg.display(), "ffmpeg does not run: conversions will wait (FFMPEG_PATH)");
    }
}

async fn recheck_ffmpeg(app: Arc<App>) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        check_ffmpeg(&app).await;
    }
}

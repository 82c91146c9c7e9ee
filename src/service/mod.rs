//! `video-worker serve`: the one place that assembles everything from the
//! configuration (the queue, the pipeline and its ports, the link to
//! JumpServer core, the HTTP routers) and runs it until SIGTERM/SIGINT.
//! [`start`] is what the binary and the in-process tests both run.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Staging as StagingKind};
use crate::http::admission::Admission;
use crate::http::auth::Token;
use crate::http::health::Health;
use crate::jumpserver::core_client::CoreClient;
use crate::jumpserver::legacy_session::LegacySessions;
use crate::jumpserver::link::{CoreLink, Identity};
use crate::jumpserver::ports::JumpServerPorts;
use crate::pipeline::ports::{Destinations, Fixed, NoReports, Reporting, Storage};
use crate::pipeline::queue::Queue;
use crate::pipeline::{Pipeline, Settings, cleanup, inbox, parts, pool};
use crate::queues::nats::{Background, NatsQueue, S3Staging, Staging};
use crate::queues::sqlite::SqliteQueue;
use crate::seal::Key;
use crate::storage::LocalStorage;
use crate::storage::object::{ObjectStorage, ObjectStore, S3Like};

/// The pipeline's settings from the service's configuration.
fn settings(c: &Config) -> Settings {
    Settings {
        tasks_dir: c.tasks_dir(),
        name: c.name.clone(),
        workers: c.workers,
        encode: c.encode.clone(),
        max_upload_bytes: c.max_upload_bytes,
        retry_max_delay: Duration::from_secs(c.retry_max_delay_seconds),
        shutdown_grace: Duration::from_secs(c.shutdown_grace_seconds),
        incomplete_task_timeout: c.incomplete_task_timeout,
        inbox_dir: c.inbox_dir.clone(),
        inbox_poll: Duration::from_secs(c.inbox_poll_seconds),
        post_processing_scripts: c.post_processing_scripts.clone(),
        post_processing_timeout: Duration::from_secs(c.post_processing_timeout),
        clean_period_days: c.clean_period_days,
        role: c.role,
        open: crate::playback::OpenOptions {
            terminal: crate::playback::TerminalOptions {
                font: c.terminal_font.clone(),
                max_size: c.encode.max_size,
                ..Default::default()
            },
            limits: crate::guac::limits::InputLimits {
                max_bytes: c.max_recording_bytes,
                ..Default::default()
            },
        },
        extras: crate::convert::Extras { keystrokes: c.keystrokes, thumbnails: c.thumbnails },
    }
}

/// The worker's parts, built but not yet running.
pub struct Assembly {
    pub config: Config,
    pub pipeline: Arc<Pipeline>,
    pub link: Option<Arc<CoreLink>>,
}

/// Opens the data directory, the queue and the storage, and links to core
/// when `CORE_HOST` is set. Recovery from the last run is [`start`]'s job,
/// so one-shot commands can open a live queue.
pub async fn assemble(config: Config) -> anyhow::Result<Assembly> {
    install_tls_provider();
    std::fs::create_dir_all(config.tasks_dir())
        .with_context(|| format!("DATA_DIR {}: cannot create", config.data_dir.display()))?;
    let key = match &config.secret_key {
        Some(secret) => Some(Arc::new(
            Key::from_secret(secret.expose()).map_err(|e| anyhow::anyhow!("VIDEO_WORKER_SECRET_KEY: {e}"))?,
        )),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let queue = open_queue(&config, key.clone(), shutdown.clone(), &tracker).await?;
    let local: Arc<dyn Storage> = Arc::new(
        LocalStorage::new(&config.local_storage_dir)
            .map_err(|e| anyhow::anyhow!("LOCAL_STORAGE_DIR: {e}"))?,
    );
    let link = match &config.core_host {
        Some(host) => Some(Arc::new(link_to_core(&config, host, shutdown.clone())?)),
        None => None,
    };
    let (destinations, reporting): (Arc<dyn Destinations>, Arc<dyn Reporting>) = match &link {
        Some(link) => {
            let http = crate::storage::object::http_client();
            let tasks_dir = config.tasks_dir();
            let ports =
                Arc::new(JumpServerPorts { link: link.clone(), local: local.clone(), http, tasks_dir });
            (ports.clone(), ports)
        }
        None => (Arc::new(Fixed(local.clone())), Arc::new(NoReports)),
    };
    let mut pipeline = Pipeline::new(settings(&config), queue, key, destinations, reporting);
    pipeline.shutdown = shutdown;
    pipeline.tracker = tracker;
    Ok(Assembly { config, pipeline: Arc::new(pipeline), link })
}

/// The single node's SQLite queue, or the cluster queue on NATS (whose
/// local SQLite file is only this node's outbox).
async fn open_queue(
    config: &Config,
    key: Option<Arc<Key>>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<Arc<dyn Queue>> {
    let Some(cluster) = &config.cluster else {
        return Ok(Arc::new(SqliteQueue::open(&config.data_dir.join("tasks.db"), key)?));
    };
    let outbox = SqliteQueue::open(&config.data_dir.join("outbox.db"), key.clone())?;
    let staging: Option<Arc<dyn Staging>> = match &cluster.staging {
        StagingKind::Nats => None,
        StagingKind::S3 { endpoint, bucket, region, access_key, secret_key } => {
            let store = ObjectStore::S3(S3Like {
                bucket: bucket.clone(),
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
            });
            let storage = ObjectStorage::new(&store, &crate::storage::object::http_client())
                .map_err(|e| anyhow::anyhow!("STAGING_S3_*: {e}"))?;
            Some(Arc::new(S3Staging::new(storage)))
        }
    };
    let background = Background { shutdown, tracker: tracker.clone() };
    let q =
        NatsQueue::start(cluster, &config.name, outbox, config.tasks_dir(), key, staging, background).await?;
    Ok(Arc::new(q))
}

fn link_to_core(config: &Config, host: &str, shutdown: CancellationToken) -> anyhow::Result<CoreLink> {
    let client = CoreClient::new(host, config.ignore_verify_certs).map_err(|e| anyhow::anyhow!(e))?;
    let sessions =
        LegacySessions::open(&config.data_dir.join("keys")).context("DATA_DIR/keys/.session_key")?;
    let identity = Identity {
        name: config.name.clone(),
        bootstrap_token: config.bootstrap_token.as_ref().map(|t| t.expose().to_string()),
        data_dir: config.data_dir.clone(),
    };
    Ok(CoreLink::new(Arc::new(client), sessions, identity, shutdown))
}

/// One crypto provider for every rustls user (ring: no C build tools beyond cc).
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process-wide metrics recorder, installed once (the `metrics` facade
/// has one recorder per process; in-process tests start several services).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// A running service.
pub struct Running {
    /// Where it listens (the real port when `HTTPD_PORT` was 0).
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub pipeline: Arc<Pipeline>,
    /// The service's background tasks; closed and empty once it stopped.
    pub tracker: TaskTracker,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Waits until the service has stopped (after [`Running::shutdown`] is cancelled).
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.done.await?
    }
}

/// Until `DATA_DIR` takes a write, serves only the health endpoint (503,
/// naming the directory, the uid and the fix) and re-checks every 5 s. A
/// container whose volume is not writable stays up and unhealthy, saying
/// why, instead of restarting in a loop; once it is fixed the service
/// starts. `false`: stop was asked for while waiting.
pub async fn wait_for_data_dir(config: &Config) -> anyhow::Result<bool> {
    use axum::http::StatusCode;
    let _ = std::fs::create_dir_all(&config.data_dir);
    let Some(problem) = crate::http::health::data_dir_problem(&config.data_dir) else {
        return Ok(true);
    };
    tracing::error!("{problem}; serving only the health endpoint (503) until it is writable");
    let addr = std::net::SocketAddr::new(config.bind_host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (BIND_HOST/HTTPD_PORT): {e}"))?;
    let body = axum::Json(serde_json::json!({
        "status": "unavailable",
        "unavailable": [problem],
        "degraded": [],
        "version": env!("CARGO_PKG_VERSION"),
        "name": config.name,
        "checks": { "data_dir_writable": false },
    }));
    let router = axum::Router::new()
        .fallback(move || std::future::ready((StatusCode::SERVICE_UNAVAILABLE, body.clone())));
    let stop = CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let fixed = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break false,
            _ = term.recv() => break false,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                let _ = std::fs::create_dir_all(&config.data_dir);
                if crate::http::health::data_dir_problem(&config.data_dir).is_none() {
                    break true;
                }
            }
        }
    };
    stop.cancel();
    let _ = server.await;
    if fixed {
        tracing::info!(data_dir = %config.data_dir.display(), "DATA_DIR is writable now: starting");
    } else {
        tracing::info!("stopped");
    }
    Ok(fixed)
}

async fn recover(pipeline: &Pipeline) -> anyhow::Result<()> {
    let r = pipeline.queue.recover().await?;
    for id in &r.abandoned_uploads {
        let _ = pipeline.task_dir(id).remove();
        tracing::warn!(task = %id, "an upload interrupted by the last shutdown was discarded");
    }
    for id in &r.resumed {
        pipeline.task_dir(id).log().line("resumed after a restart");
        tracing::info!(task = %id, "resuming an interrupted task");
    }
    Ok(())
}

/// Recovers, binds the listener and starts every part; returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let Assembly { config, pipeline, link } = assemble(config).await?;
    recover(&pipeline).await?;
    let addr = SocketAddr::new(config.bind_host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (BIND_HOST/HTTPD_PORT)"))?;
    let addr = listener.local_addr()?;
    announce(&config, &pipeline, addr);
    let health = Arc::new(Health::new(config.data_dir.clone(), config.encode.ffmpeg.clone()));
    check_ffmpeg(&config, &health).await;
    // Every background task is tracked: shutdown waits for all of them.
    let tracker = pipeline.tracker.clone();
    tracker.spawn(recheck_ffmpeg(config.clone(), health.clone(), pipeline.shutdown.clone()));
    if let Some(link) = &link {
        tracker.spawn(crate::jumpserver::connect::run(link.clone()));
        tracker.spawn(parts::expire_loop(pipeline.clone()));
    }
    // After the link to core is in place: resumed gateway tasks report to core.
    let workers = config.role.converts().then(|| tracker.spawn(pool::run(pipeline.clone())));
    if let Some(dir) = config.inbox_dir.clone().filter(|_| config.role.receives()) {
        tracker.spawn(inbox::watch(pipeline.clone(), dir));
    }
    let mut scheduler =
        cleanup::schedule(pipeline.clone(), &config.clean_schedule).await.map_err(|e| anyhow::anyhow!(e))?;
    let metrics = metrics_handle();
    crate::http::metrics::register_counters();
    let router = crate::http::router(crate::http::Parts {
        pipeline: pipeline.clone(),
        link,
        admission: Admission::new(config.max_concurrent_uploads, config.max_pending_tasks),
        token: Token(config.api_token.as_ref().map(|t| Arc::from(t.expose()))),
        health,
        metrics,
        max_parts_per_task: config.max_parts_per_task,
        receives: config.role.receives(),
        allowed_hosts: config.allowed_hosts.clone(),
    });
    let token = pipeline.shutdown.clone();
    let grace = pipeline.settings.shutdown_grace;
    let background = tracker.clone();
    let done = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await?;
        tracing::info!("no longer accepting requests; finishing running conversions");
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        let _ = scheduler.shutdown().await;
        wait_for_background(&background, grace).await;
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Running { addr, shutdown: pipeline.shutdown.clone(), pipeline, tracker, done })
}

/// Waits for the background tasks (they stop on the shutdown token) within
/// the grace period; what is still running then is named in the log.
async fn wait_for_background(tracker: &TaskTracker, grace: Duration) {
    tracker.close();
    // The pool already used the grace period for conversions: the loops
    // left only need to see the token (a second or two).
    let wait = grace.max(Duration::from_secs(5));
    if tokio::time::timeout(wait, tracker.wait()).await.is_err() {
        tracing::warn!(still_running = tracker.len(), "background tasks did not stop in time");
    }
}

/// Runs the service until SIGTERM/SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let running = start(config).await?;
    spawn_signal_handler(running.shutdown.clone());
    running.stopped().await
}

fn announce(config: &Config, pipeline: &Pipeline, addr: SocketAddr) {
    tracing::info!(
        %addr, name = %config.name, workers = config.workers, data_dir = %config.data_dir.display(),
        "video-worker listening"
    );
    if config.api_token.is_none() {
        tracing::warn!(
            %addr,
            "VIDEO_WORKER_API_TOKEN is not set: the standalone API (/api/v1/) answers loopback callers only \
             (403 for others), as does the console, and only requests to a loopback name or one in \
             ALLOWED_HOSTS, never other web pages; health and /metrics answer everyone; set a token to \
             accept remote uploads"
        );
    }
    if let Some(core) = &config.core_host {
        tracing::info!(core_host = %core, "CORE_HOST is set: serving JumpServer gateways; replays go where core says");
    }
    if pipeline.key.is_none() {
        tracing::warn!("VIDEO_WORKER_SECRET_KEY is not set: received recordings wait on disk unsealed");
    }
}

fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

/// Whether `ffmpeg -version` runs; the health endpoint reports it.
async fn check_ffmpeg(config: &Config, health: &Health) {
    let ok = tokio::process::Command::new(&config.encode.ffmpeg)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    let was = health.ffmpeg_ok.swap(ok, Ordering::Relaxed);
    if !ok && (was || health.started.elapsed() < Duration::from_secs(5)) {
        tracing::error!(ffmpeg = %config.encode.ffmpeg.display(), "ffmpeg does not run: conversions will wait (FFMPEG_PATH)");
    }
}

async fn recheck_ffmpeg(config: Config, health: Arc<Health>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        check_ffmpeg(&config, &health).await;
    }
}

//! Service logging: tracing to stderr, as text or JSON, at `LOG_LEVEL`.
//! `VIDEO_WORKER_LOG` (an env-filter directive) overrides the level.

use crate::config::{Config, LogFormat};

pub fn init(config: &Config) {
    let level = config.log_level.as_str().to_ascii_lowercase();
    // DEBUG is for this service's own logs: libraries' debug output (HTTP
    // clients, request signers) can carry credentials and request headers.
    let others = if config.log_level > tracing::Level::INFO { "info" } else { level.as_str() };
    // Request tracing is noisy at INFO; keep it at WARN.
    let directives = format!("{others},video_worker={level},tower_http=warn,tokio_cron_scheduler=warn");
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIDEO_WORKER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

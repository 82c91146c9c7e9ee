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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_wanted());
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether log lines on stderr may carry ANSI colours: only when stderr is
/// a terminal (a file or a pipe gets plain text, which log collectors and
/// `grep` read) and `NO_COLOR` is not set to anything (no-color.org).
pub fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    colour_for(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"))
}

fn colour_for(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour_for;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_for(true, None));
        assert!(colour_for(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!colour_for(true, Some("1".into())));
        assert!(!colour_for(false, None));
    }
}

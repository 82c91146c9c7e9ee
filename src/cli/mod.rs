//! Command definitions and dispatch.

mod convert;
mod keys;
mod progress;
mod service;
mod snapshot;
mod submit;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "video-worker",
    version,
    about = "Turns Guacamole session recordings into small, seekable MP4 files"
)]
pub struct Cli {
    /// Log more (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Convert a recording (raw or gzip; several parts in order) to H.264 MP4.
    Convert(convert::ConvertArgs),
    /// Print what was typed (the keystroke track) as text, WebVTT or JSON.
    Keys(keys::KeysArgs),
    /// Write the display as it stands MS milliseconds after the first sync, as PNG.
    Snapshot(snapshot::SnapshotArgs),
    /// Run the service: HTTP API, durable task queue, worker pool, storage.
    Serve(service::ConfigArgs),
    /// Print the effective configuration (secrets masked) and check it.
    CheckConfig(service::ConfigArgs),
    /// Remove finished tasks older than VIDEO_WORKER_CLEAN_PERIOD days, once.
    Cleanup(service::ConfigArgs),
    /// Upload a recording to a running service (sealed when a key is set) and follow its task.
    Submit(submit::SubmitArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Convert(args) => convert::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Serve(args) => service::serve(args),
        Command::CheckConfig(args) => service::check_config(args),
        Command::Cleanup(args) => service::cleanup(args),
        Command::Submit(args) => submit::run(args),
    }
}

/// Logging for the one-shot commands (the service configures its own).
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIDEO_WORKER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(video_worker::telemetry::colour_wanted())
        .init();
}

/// Options for terminal recordings (asciicast, typescripts), shared by
/// `convert` and `snapshot`.
#[derive(clap::Args)]
pub struct TerminalArgs {
    /// A typescript's timing file (`delay bytes` lines); also found as a
    /// second input or beside the data file as DATA.timing.
    #[arg(long, value_name = "FILE")]
    timing: Option<PathBuf>,
    /// Terminal size COLSxROWS for recordings that carry none (typescripts,
    /// KoKo's old JSON replays); default 80x24.
    #[arg(long, value_name = "COLSxROWS", value_parser = parse_grid)]
    size: Option<(u16, u16)>,
    /// A monospace font file for terminal recordings (PATH or PATH#FACE), put
    /// before the default chain compiled into the binary (DejaVu Sans Mono,
    /// WenQuanYi Micro Hei Mono).
    #[arg(long, env = "TERMINAL_FONT", value_name = "FONT")]
    font: Option<String>,
}

impl TerminalArgs {
    fn options(&self, max_size: Option<(u32, u32)>) -> anyhow::Result<video_worker::playback::OpenOptions> {
        if let Some(t) = &self.timing
            && !t.is_file()
        {
            anyhow::bail!("{}: no such file", t.display());
        }
        Ok(video_worker::playback::OpenOptions {
            terminal: video_worker::playback::TerminalOptions {
                size: self.size,
                font: self.font.clone().filter(|f| !f.trim().is_empty()),
                idle_limit_ms: None,
                max_size,
                timing: self.timing.clone(),
            },
            ..Default::default()
        })
    }
}

fn parse_grid(text: &str) -> Result<(u16, u16), String> {
    let (c, r) = video_worker::encode::parse_size(text)
        .map_err(|_| format!("'{text}' is not COLSxROWS, e.g. 80x24"))?;
    let (max_c, max_r) = (video_worker::terminal::MAX_COLS, video_worker::terminal::MAX_ROWS);
    if c == 0 || r == 0 || c > u32::from(max_c) || r > u32::from(max_r) {
        return Err(format!("'{text}': columns 1-{max_c}, rows 1-{max_r}"));
    }
    Ok((c as u16, r as u16))
}

/// Input files must exist before any work starts.
fn check_inputs(inputs: &[PathBuf]) -> anyhow::Result<()> {
    for input in inputs {
        if !input.is_file() {
            anyhow::bail!("{}: no such file", input.display());
        }
    }
    Ok(())
}

/// Prints the reader's warnings: the first few verbatim, then counts.
fn print_report(report: &video_worker::playback::Report) {
    const SHOWN: usize = 10;
    for w in report.warnings.iter().take(SHOWN) {
        eprintln!("warning: {w}");
    }
    let more = report.warning_count().saturating_sub(SHOWN as u64);
    if more > 0 {
        eprintln!("warning: ... and {more} more");
    }
    if !report.unknown_opcodes.is_empty() {
        let list: Vec<String> = report.unknown_opcodes.iter().map(|(op, n)| format!("{op} x{n}")).collect();
        eprintln!("note: skipped unsupported instructions: {}", list.join(", "));
    }
}

//! `video-worker snapshot`.

use std::path::PathBuf;

use clap::Args;
use video_worker::snapshot::{snapshot, write_png};

#[derive(Args)]
pub struct SnapshotArgs {
    /// Recording files: raw or gzip; several parts of one session in order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Milliseconds after the recording's first sync (a terminal recording's own zero).
    #[arg(long, allow_negative_numbers = false)]
    at: u64,
    /// The PNG to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Largest picture, WIDTHxHEIGHT: terminal recordings shrink their font to fit.
    #[arg(long, value_parser = video_worker::encode::parse_size)]
    max_size: Option<(u32, u32)>,
    #[command(flatten)]
    terminal: super::TerminalArgs,
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    super::check_inputs(&args.inputs)?;
    let at = i64::try_from(args.at)?;
    let options = args.terminal.options(args.max_size)?;
    let recording = video_worker::playback::open_with(&args.inputs, None, &options)?;
    let shot = snapshot(&*recording, at)?;
    write_png(&shot.picture, &args.output)?;
    super::print_report(&shot.report);
    println!(
        "{}: {}x{} at {} ms (picture of {} ms)",
        args.output.display(),
        shot.picture.width(),
        shot.picture.height(),
        at,
        shot.shown_ms
    );
    Ok(())
}

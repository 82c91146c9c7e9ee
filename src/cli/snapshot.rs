//! `video-worker snapshot`.

use std::path::PathBuf;

use clap::Args;
use video_worker::snapshot::{snapshot, write_png};

#[derive(Args)]
pub struct SnapshotArgs {
    /// Recording files: raw or gzip; several parts of one session in order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Milliseconds after the recording's first sync.
    #[arg(long, allow_negative_numbers = false)]
    at: u64,
    /// The PNG to write.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    super::check_inputs(&args.inputs)?;
    let at = i64::try_from(args.at)?;
    let shot = snapshot(&args.inputs, at)?;
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

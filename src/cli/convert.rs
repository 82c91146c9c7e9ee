//! `video-worker convert`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use video_worker::convert::{Summary, convert};
use video_worker::encode::{EncodeSettings, parse_size};
use video_worker::engine::guacenc;

use super::progress::ProgressReporter;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The built-in renderer (default): fast, exact, variable frame rate.
    Native,
    /// An installed Apache guacenc, its .m4v re-encoded to the same H.264 MP4.
    Guacenc,
}

#[derive(Args)]
pub struct ConvertArgs {
    /// Recording files: raw or gzip; several parts of one session in order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The MP4 to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Largest video size, WIDTHxHEIGHT (aspect kept); default: the session's size.
    #[arg(long, value_parser = parse_size)]
    max_size: Option<(u32, u32)>,
    /// Most frames per second.
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// x264 constant rate factor (0-51, lower is better quality).
    #[arg(long, default_value_t = 23)]
    crf: u8,
    /// x264 preset.
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// The ffmpeg program.
    #[arg(long, env = "FFMPEG_PATH", default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    /// Rendering engine.
    #[arg(long, value_enum, default_value = "native")]
    engine: Engine,
    /// The guacenc program (for --engine guacenc).
    #[arg(long, env = "GUACENC_PATH", default_value = "guacenc")]
    guacenc: PathBuf,
    /// Also write ffmpeg's messages to this file.
    #[arg(long)]
    ffmpeg_log: Option<PathBuf>,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    super::check_inputs(&args.inputs)?;
    let settings = EncodeSettings {
        ffmpeg: args.ffmpeg.clone(),
        crf: args.crf,
        preset: args.preset.clone(),
        fps: args.fps,
        max_size: args.max_size,
        ..EncodeSettings::default()
    };
    let mut reporter = ProgressReporter::new();
    let summary = match args.engine {
        Engine::Native => {
            convert(&args.inputs, &args.output, &settings, &mut |p| reporter.update(p.at_ms, p.span_ms))
        }
        Engine::Guacenc => guacenc::convert(&args.inputs, &args.output, &settings, &args.guacenc),
    };
    reporter.finish();
    let summary = summary?;
    if let Some(path) = &args.ffmpeg_log {
        std::fs::write(path, &summary.ffmpeg_log)?;
    }
    super::print_report(&summary.report);
    println!("{}", summary_line(&summary));
    Ok(())
}

fn summary_line(s: &Summary) -> String {
    let span = s.span_ms as f64 / 1000.0;
    let wall = s.wall.as_secs_f64();
    format!(
        "{}: {} frames, {}x{}, session {:.1} s, wall {:.2} s ({:.0}x real time), {} bytes in, {} bytes out, peak RSS {} MB (ffmpeg {} MB){}",
        s.output.display(),
        s.frames,
        s.width,
        s.height,
        span,
        wall,
        span / wall.max(1e-3),
        s.input_bytes,
        s.output_bytes,
        s.peak_rss / 1_000_000,
        s.encoder_peak_rss / 1_000_000,
        match s.report.warning_count() {
            0 => String::new(),
            n => format!(", {n} warnings"),
        }
    )
}

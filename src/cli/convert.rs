//! `video-worker convert`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use video_worker::convert::{Extras, Summary, convert};
use video_worker::encode::{EncodeSettings, Quality, parse_size};
use video_worker::engine::guacenc;
use video_worker::keys::KeyTrack;
use video_worker::thumbnails::ThumbnailSettings;

use super::progress::ProgressReporter;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The built-in renderer (default): fast, exact, variable frame rate.
    Native,
    /// An installed Apache guacenc, its .m4v re-encoded to the same H.264 MP4.
    Guacenc,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QualityArg {
    /// CRF 28, veryfast: the smallest files, text still readable.
    Low,
    /// CRF 23, veryfast (default).
    Normal,
    /// CRF 18, veryfast: closest to the rendered picture, larger files.
    High,
}

impl From<QualityArg> for Quality {
    fn from(q: QualityArg) -> Quality {
        match q {
            QualityArg::Low => Quality::Low,
            QualityArg::Normal => Quality::Normal,
            QualityArg::High => Quality::High,
        }
    }
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
    /// Picture quality: low, normal or high (a CRF and a preset; --crf and --preset override).
    #[arg(long, value_enum, default_value = "normal")]
    quality: QualityArg,
    /// x264 constant rate factor (0-51, lower is better quality); default: the quality's.
    #[arg(long)]
    crf: Option<u8>,
    /// x264 preset; default: the quality's.
    #[arg(long)]
    preset: Option<String>,
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
    #[command(flatten)]
    terminal: super::TerminalArgs,
    /// Terminal recordings: cut silences longer than this many seconds to it
    /// (default: real time, as auditors match timestamps against the video).
    #[arg(long, value_name = "SECONDS")]
    idle_limit: Option<f64>,
    /// Write what was typed (Guacamole `key` events) as OUTPUT.keys.vtt
    /// (`sidecar`, the default of the bare flag) or also as a subtitle track
    /// inside the MP4 (`embed`). Typed passwords are in it: see docs/security.md.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "sidecar", value_name = "WHERE")]
    keystrokes: Option<KeystrokesArg>,
    /// Write a thumbnail strip for scrubbing: OUTPUT.thumbs.jpg and OUTPUT.thumbs.vtt.
    #[arg(long)]
    thumbnails: bool,
    /// At most one thumbnail per this many seconds of session time.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    thumbnail_interval: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeystrokesArg {
    /// No keystroke track (what the flag's absence means).
    Off,
    /// A WebVTT file beside the MP4.
    Sidecar,
    /// The sidecar and a mov_text subtitle track in the MP4.
    Embed,
}

impl ConvertArgs {
    fn extras(&self) -> Extras {
        Extras {
            keystrokes: match self.keystrokes {
                None | Some(KeystrokesArg::Off) => KeyTrack::Off,
                Some(KeystrokesArg::Sidecar) => KeyTrack::Sidecar,
                Some(KeystrokesArg::Embed) => KeyTrack::Embed,
            },
            thumbnails: self.thumbnails.then(|| ThumbnailSettings {
                interval_ms: i64::from(self.thumbnail_interval.max(1)) * 1000,
                ..ThumbnailSettings::default()
            }),
        }
    }
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    super::check_inputs(&args.inputs)?;
    let quality = EncodeSettings::default().with_quality(args.quality.into());
    let settings = EncodeSettings {
        ffmpeg: args.ffmpeg.clone(),
        crf: args.crf.unwrap_or(quality.crf),
        preset: args.preset.clone().unwrap_or(quality.preset),
        fps: args.fps,
        max_size: args.max_size,
        ..EncodeSettings::default()
    };
    let extras = args.extras();
    if args.engine == Engine::Guacenc && (extras.keystrokes != KeyTrack::Off || extras.thumbnails.is_some()) {
        anyhow::bail!("--keystrokes and --thumbnails need the native engine");
    }
    let mut reporter = ProgressReporter::new();
    let summary = match args.engine {
        Engine::Native => {
            let mut options = args.terminal.options(args.max_size)?;
            options.terminal.idle_limit_ms = match args.idle_limit {
                Some(s) if s.is_finite() && s > 0.0 => Some((s * 1000.0).round() as i64),
                Some(s) => anyhow::bail!("--idle-limit {s}: a number of seconds above 0"),
                None => None,
            };
            video_worker::playback::open_with(&args.inputs, None, &options)
                .map_err(video_worker::convert::ConvertError::from)
                .and_then(|recording| {
                    convert(&*recording, &args.output, &settings, &extras, &mut |p| {
                        reporter.update(p.at_ms, p.span_ms)
                    })
                })
        }
        Engine::Guacenc => guacenc::convert(&args.inputs, &args.output, &settings, &args.guacenc),
    };
    reporter.finish();
    let summary = summary?;
    if let Some(path) = &args.ffmpeg_log {
        std::fs::write(path, &summary.ffmpeg_log)?;
    }
    super::print_report(&summary.report);
    for sidecar in &summary.sidecars {
        println!("{}: {}", sidecar.path.display(), sidecar.kind.as_str());
    }
    println!("{}", summary_line(&summary));
    // Where the CPU went, so that a slowdown shows its stage (the bench reads it).
    println!("cpu: {}", summary.report.cpu.describe());
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

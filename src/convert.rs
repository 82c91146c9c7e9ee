//! `convert`: a recording (one or more parts) to an H.264 MP4.
//!
//! Work overlaps across threads: a reader parses and hands images to a
//! decoder pool, the player draws and picks frames on the calling thread,
//! a writer converts frames to I420 (in parallel, changed rows only) and streams them into ffmpeg, and ffmpeg encodes on its own
//! threads. The MP4 is written as `OUT.part` and renamed only on success,
//! so a crash never leaves a file that looks finished.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::encode::ffmpeg::FrameEncoder;
use crate::encode::rusage::{children_peak_rss, own_peak_rss};
use crate::encode::timeline::{Frame, FrameOutput, Timeline};
use crate::encode::yuv::I420Converter;
use crate::encode::{EncodeError, EncodeSettings, output_size};
use crate::keys::KeyTrack;
use crate::playback::cpu::{StageCpu, thread_cpu};
use crate::playback::{Diagnostics, PlaybackError, Recording, Report};
use crate::thumbnails::{Collector, ThumbnailSettings};

/// Frames buffered between the player and the encoder feed.
const FRAME_BUFFER: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Playback(#[from] PlaybackError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("invalid setting: {0}")]
    Settings(String),
    #[error("{path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
}

/// What a finished conversion reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub output: PathBuf,
    pub frames: u64,
    pub span_ms: i64,
    pub width: u32,
    pub height: u32,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub wall: Duration,
    /// Peak memory of this process and of the encoder, in bytes.
    pub peak_rss: u64,
    pub encoder_peak_rss: u64,
    pub report: Report,
    pub ffmpeg_log: String,
    /// Files made beside the MP4 (see [`Extras`]).
    pub sidecars: Vec<Sidecar>,
}

/// What is made beside the MP4, when asked.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub keystrokes: KeyTrack,
    pub thumbnails: Option<ThumbnailSettings>,
}

/// A file made beside the MP4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    pub kind: SidecarKind,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarKind {
    /// `<name>.keys.vtt`: what was typed, one cue per batch.
    Keystrokes,
    /// `<name>.thumbs.vtt`: the thumbnail track...
    Thumbnails,
    /// `<name>.thumbs.jpg`: ...and its sprite.
    Sprite,
}

impl SidecarKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SidecarKind::Keystrokes => "keystrokes",
            SidecarKind::Thumbnails => "thumbnails",
            SidecarKind::Sprite => "sprite",
        }
    }

    /// What the file's name ends with, after the video's stem.
    pub fn suffix(self) -> &'static str {
        match self {
            SidecarKind::Keystrokes => ".keys.vtt",
            SidecarKind::Thumbnails => ".thumbs.vtt",
            SidecarKind::Sprite => ".thumbs.jpg",
        }
    }

    /// The sidecar of this kind for the video at `video` (`x.mp4` → `x.keys.vtt`).
    pub fn path_for(self, video: &Path) -> PathBuf {
        let name = video.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = name.strip_suffix(".mp4").unwrap_or(&name);
        video.with_file_name(format!("{stem}{}", self.suffix()))
    }
}

/// Progress of a running conversion, in session time.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub at_ms: i64,
    pub span_ms: i64,
}

/// Converts `recording` into `output`, with the `extras` beside it.
pub fn convert(
    recording: &dyn Recording,
    output: &Path,
    settings: &EncodeSettings,
    extras: &Extras,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, ConvertError> {
    settings.validate().map_err(ConvertError::Settings)?;
    let started = Instant::now();
    let size = output_size(recording.screen(), settings.max_size);
    let part = part_path(output);
    let end = video_end(recording, settings);
    let thumbs = extras.thumbnails.map(|t| Collector::new(t, recording.screen(), end));
    let made =
        encode_session(recording, &part, size, settings, thumbs, progress).and_then(|(encoded, thumbs)| {
            let sidecars = make_sidecars(recording, output, &part, settings, extras, thumbs.as_ref(), end)?;
            Ok((encoded, sidecars))
        });
    let ((frames, report, ffmpeg_log), sidecars) = match made {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, output)
        .map_err(|source| ConvertError::Output { path: output.to_path_buf(), source })?;
    let done = Finished { frames, span_ms: end, size, report, ffmpeg_log };
    let mut summary = Summary::of(output, recording, done, started)?;
    summary.sidecars = sidecars;
    Ok(summary)
}

/// Writes the keystroke and thumbnail files beside `output`, and muxes
/// the keystrokes into the MP4 still being made at `part` when asked.
fn make_sidecars(
    recording: &dyn Recording,
    output: &Path,
    part: &Path,
    settings: &EncodeSettings,
    extras: &Extras,
    thumbs: Option<&Collector>,
    end: i64,
) -> Result<Vec<Sidecar>, ConvertError> {
    let mut made = Vec::new();
    let written = |path: PathBuf| move |source| ConvertError::Output { path, source };
    if extras.keystrokes != KeyTrack::Off {
        let path = SidecarKind::Keystrokes.path_for(output);
        let events = recording.key_events()?;
        let batches = crate::keys::batches(&events);
        std::fs::write(&path, crate::keys::vtt::keystrokes(&batches, end)).map_err(written(path.clone()))?;
        if extras.keystrokes == KeyTrack::Embed && !batches.is_empty() {
            let muxed = part.with_extension("subtitled");
            crate::encode::subtitles::embed(&settings.ffmpeg, part, &path, &muxed)?;
            std::fs::rename(&muxed, part).map_err(written(part.to_path_buf()))?;
        }
        made.push(Sidecar { kind: SidecarKind::Keystrokes, path });
    }
    if let Some(thumbs) = thumbs.filter(|t| !t.is_empty()) {
        let sprite = SidecarKind::Sprite.path_for(output);
        let track = SidecarKind::Thumbnails.path_for(output);
        let sprite_name = sprite.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        thumbs.write(&sprite, &track, &sprite_name, end).map_err(written(sprite.clone()))?;
        made.push(Sidecar { kind: SidecarKind::Thumbnails, path: track });
        made.push(Sidecar { kind: SidecarKind::Sprite, path: sprite });
    }
    Ok(made)
}

/// What an engine knows when its MP4 is in place.
pub(crate) struct Finished {
    pub frames: u64,
    pub span_ms: i64,
    pub size: (u32, u32),
    pub report: Report,
    pub ffmpeg_log: String,
}

impl Summary {
    /// The summary of a finished MP4 at `output`, with the measured extras.
    pub(crate) fn of(
        output: &Path,
        recording: &dyn Recording,
        done: Finished,
        started: Instant,
    ) -> Result<Summary, ConvertError> {
        let output_bytes = std::fs::metadata(output)
            .map_err(|source| ConvertError::Output { path: output.to_path_buf(), source })?
            .len();
        Ok(Summary {
            output: output.to_path_buf(),
            frames: done.frames,
            span_ms: done.span_ms,
            width: done.size.0,
            height: done.size.1,
            input_bytes: recording.input_bytes(),
            output_bytes,
            wall: started.elapsed(),
            peak_rss: own_peak_rss(),
            encoder_peak_rss: children_peak_rss(),
            report: done.report,
            ffmpeg_log: done.ffmpeg_log,
            sidecars: Vec::new(),
        })
    }
}

/// `OUT.mp4` is written as `OUT.mp4.part` first.
pub fn part_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The video ends at the session's end; a session without time still gets
/// one frame's worth of video.
fn video_end(recording: &dyn Recording, settings: &EncodeSettings) -> i64 {
    recording.span_ms().max(settings.min_frame_gap_ms())
}

fn encode_session(
    recording: &dyn Recording,
    part: &Path,
    size: (u32, u32),
    settings: &EncodeSettings,
    thumbs: Option<Collector>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Encoded, Option<Collector>), ConvertError> {
    let screen = recording.screen();
    let end = video_end(recording, settings);
    let encoder = FrameEncoder::start(settings, screen, size, end, part)?;
    let (tx, handle) = spawn_writer(encoder, screen, thumbs);
    let writer = (tx.clone(), handle);
    let diag = Diagnostics::default();
    let span = recording.span_ms();
    let mut timeline = Timeline::new(settings.min_frame_gap_ms(), FrameFeed(tx));
    let played =
        recording.play(&mut timeline, &diag, &mut |t| progress(Progress { at_ms: t, span_ms: span }));
    let finished = played.and_then(|()| timeline.finish());
    // Closing the channel tells the writer to finish ffmpeg.
    let frames = match finished {
        Ok((frames, feed)) => {
            drop(feed);
            frames
        }
        Err(e) => {
            let written = join_writer(writer, true);
            // A dead encoder shows up here as a closed channel: report ffmpeg's cause.
            return Err(match (e, written) {
                (PlaybackError::Sink(_), Err(encode)) => encode.into(),
                (e, _) => e.into(),
            });
        }
    };
    let written = join_writer(writer, false)?;
    let mut report = diag.snapshot();
    report.cpu += written.cpu;
    Ok(((frames, report, written.log), written.thumbs))
}

/// What encoding gives: frames written, the player's report, ffmpeg's log.
type Encoded = (u64, Report, String);

/// Sends frames to the writer thread.
struct FrameFeed(SyncSender<WriterMessage>);

enum WriterMessage {
    Frame(Frame),
    Abort,
}

impl FrameOutput for FrameFeed {
    fn emit(&mut self, frame: Frame) -> Result<(), PlaybackError> {
        self.0
            .send(WriterMessage::Frame(frame))
            .map_err(|_| PlaybackError::Sink("the encoder stopped early".into()))
    }
}

/// What the writer thread gives back.
struct Written {
    /// ffmpeg's stderr.
    log: String,
    thumbs: Option<Collector>,
    /// The writer's stages (I420, pipe) and ffmpeg's own CPU.
    cpu: StageCpu,
}
type Writer = (SyncSender<WriterMessage>, JoinHandle<Result<Written, EncodeError>>);

fn spawn_writer(mut encoder: FrameEncoder, screen: (u32, u32), mut thumbs: Option<Collector>) -> Writer {
    let (tx, rx) = sync_channel::<WriterMessage>(FRAME_BUFFER);
    let handle = std::thread::Builder::new()
        .name("ffmpeg-feed".into())
        .spawn(move || {
            let mut yuv = I420Converter::new(screen.0, screen.1);
            let mut pipe = Duration::ZERO;
            for message in rx {
                match message {
                    WriterMessage::Frame(frame) => {
                        if let Some(t) = thumbs.as_mut() {
                            t.frame(frame.ms, &frame.pixels);
                        }
                        let bytes = yuv.convert(&frame.pixels);
                        let start = thread_cpu();
                        let written = encoder.write_frame(frame.ms.max(0) as u64, bytes);
                        pipe += thread_cpu().saturating_sub(start);
                        if let Err(e) = written {
                            return Err(encoder.fail(e));
                        }
                    }
                    WriterMessage::Abort => {
                        encoder.abort();
                        return Err(EncodeError::Pipe(std::io::Error::other("aborted")));
                    }
                }
            }
            let (log, ffmpeg) = encoder.finish()?;
            let cpu = StageCpu { i420: yuv.cpu(), pipe, ffmpeg, ..StageCpu::default() };
            Ok(Written { log, thumbs, cpu })
        })
        .expect("spawning the encoder feed thread");
    (tx, handle)
}

fn join_writer((tx, handle): Writer, abort: bool) -> Result<Written, EncodeError> {
    if abort {
        let _ = tx.send(WriterMessage::Abort);
    }
    drop(tx);
    handle.join().unwrap_or_else(|_| Err(EncodeError::Pipe(std::io::Error::other("encoder thread panicked"))))
}

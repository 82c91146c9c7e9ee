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
use crate::playback::{Diagnostics, PlaybackError, Report, Session};

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
}

/// Progress of a running conversion, in session time.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub at_ms: i64,
    pub span_ms: i64,
}

/// Converts `inputs` (parts of one session, in order) into `output`.
pub fn convert(
    inputs: &[PathBuf],
    output: &Path,
    settings: &EncodeSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, ConvertError> {
    settings.validate().map_err(ConvertError::Settings)?;
    let started = Instant::now();
    let session = Session::open(inputs)?;
    let size = output_size(session.screen, settings.max_size);
    let part = part_path(output);
    let result = encode_session(&session, &part, size, settings, progress);
    let (frames, report, ffmpeg_log) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, output)
        .map_err(|source| ConvertError::Output { path: output.to_path_buf(), source })?;
    let done = Finished { frames, span_ms: video_end(&session, settings), size, report, ffmpeg_log };
    Summary::of(output, &session, done, started)
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
        session: &Session,
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
            input_bytes: session.input_bytes(),
            output_bytes,
            wall: started.elapsed(),
            peak_rss: own_peak_rss(),
            encoder_peak_rss: children_peak_rss(),
            report: done.report,
            ffmpeg_log: done.ffmpeg_log,
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
fn video_end(session: &Session, settings: &EncodeSettings) -> i64 {
    session.timebase.span.max(settings.min_frame_gap_ms())
}

fn encode_session(
    session: &Session,
    part: &Path,
    size: (u32, u32),
    settings: &EncodeSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<(u64, Report, String), ConvertError> {
    let encoder = FrameEncoder::start(settings, session.screen, size, part)?;
    let (tx, handle) = spawn_writer(encoder, session.screen);
    let writer = (tx.clone(), handle);
    let diag = Diagnostics::default();
    let span = session.timebase.span;
    let mut timeline = Timeline::new(settings.min_frame_gap_ms(), FrameFeed(tx));
    let played = session.play(&mut timeline, &diag, &mut |t| progress(Progress { at_ms: t, span_ms: span }));
    let finished = played.and_then(|()| timeline.finish(video_end(session, settings)));
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
    let ffmpeg_log = join_writer(writer, false)?;
    Ok((frames, diag.snapshot(), ffmpeg_log))
}

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

type Writer = (SyncSender<WriterMessage>, JoinHandle<Result<String, EncodeError>>);

fn spawn_writer(mut encoder: FrameEncoder, screen: (u32, u32)) -> Writer {
    let (tx, rx) = sync_channel::<WriterMessage>(FRAME_BUFFER);
    let handle = std::thread::Builder::new()
        .name("ffmpeg-feed".into())
        .spawn(move || {
            let mut yuv = I420Converter::new(screen.0, screen.1);
            for message in rx {
                match message {
                    WriterMessage::Frame(frame) => {
                        let bytes = yuv.convert(&frame.pixels);
                        if let Err(e) = encoder.write_frame(frame.ms.max(0) as u64, bytes) {
                            return Err(encoder.fail(e));
                        }
                    }
                    WriterMessage::Abort => {
                        encoder.abort();
                        return Err(EncodeError::Pipe(std::io::Error::other("aborted")));
                    }
                }
            }
            encoder.finish()
        })
        .expect("spawning the encoder feed thread");
    (tx, handle)
}

fn join_writer((tx, handle): Writer, abort: bool) -> Result<String, EncodeError> {
    if abort {
        let _ = tx.send(WriterMessage::Abort);
    }
    drop(tx);
    handle.join().unwrap_or_else(|_| Err(EncodeError::Pipe(std::io::Error::other("encoder thread panicked"))))
}

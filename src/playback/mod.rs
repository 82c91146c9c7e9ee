//! Playing a recording into frames. [`Recording`] is the seam the converter
//! and `snapshot` take: anything that can play itself into a [`FrameSink`]
//! reuses the frame timeline, the I420 conversion and the ffmpeg pipe.
//!
//! The Guacamole implementation is [`Session`]: a first pass for its time
//! line and screen size, a reader thread that parses and decodes, and a
//! player that draws and calls the sink at every moment the picture may
//! change.

pub mod clock;
pub mod cpu;
pub mod diagnostics;
pub mod download;
pub mod player;
pub mod scan;
pub mod source;
pub mod terminal;

use std::path::PathBuf;
use std::sync::Arc;

pub use diagnostics::{Diagnostics, Report};
pub use player::{Flow, FrameSink, Player};

use crate::guac::input::{InputError, open_recording};
use crate::keys::KeyEvent;
use crate::render::Limits;
use crate::seal::Key;
use crate::terminal::TermError;
use crate::terminal::detect::{Content, HEAD, sniff};

pub use terminal::{TerminalOptions, TerminalRecording};

/// A recording that can be played into frames: the converter's input.
pub trait Recording: Send + Sync {
    /// What is played, for messages (its files).
    fn describe(&self) -> String;

    /// The picture size: the largest the session reached, both sides even.
    fn screen(&self) -> (u32, u32);

    /// The session's end, in ms from the recording's own zero.
    fn span_ms(&self) -> i64;

    /// Bytes read from the inputs.
    fn input_bytes(&self) -> u64;

    /// Plays the whole recording into `sink`, reporting session time to `progress`.
    fn play(
        &self,
        sink: &mut dyn FrameSink,
        diag: &Diagnostics,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError>;

    /// The key presses and releases the recording holds, on its time line.
    /// Only Guacamole recordings record keys; a terminal recording's input
    /// is already on its screen.
    fn key_events(&self) -> Result<Vec<KeyEvent>, PlaybackError> {
        Ok(Vec::new())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{file}: byte {offset}: {cause}")]
    TooLarge { file: String, offset: u64, cause: String },
    #[error("{files}: no instructions found: not a Guacamole recording")]
    NotARecording { files: String },
    #[error("{files}: the recording never sets the screen size (no 'size' of layer 0)")]
    NoScreenSize { files: String },
    #[error(transparent)]
    Terminal(#[from] TermError),
    /// Over `MAX_RECORDING_BYTES` or the compression ratio (a bomb).
    #[error(transparent)]
    Limit(#[from] crate::guac::limits::LimitExceeded),
    #[error("{0}")]
    Sink(String),
}

/// How recordings are opened: what terminal recordings need beyond their files.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub terminal: TerminalOptions,
    /// What each input may become once decompressed.
    pub limits: crate::guac::limits::InputLimits,
}

/// Opens recording files as a [`Recording`]; `key` opens files sealed at rest.
pub fn open(paths: &[PathBuf], key: Option<Arc<Key>>) -> Result<Box<dyn Recording>, PlaybackError> {
    open_with(paths, key, &OpenOptions::default())
}

/// Opens recording files as the [`Recording`] their content says they are
/// (never their names): Guacamole parts, an asciicast (v1, v2, v3, KoKo's
/// old JSON), a typescript and its timing file, a Lion `replay.json` with
/// its parts beside it, or JumpServer core's `<sid>.tar` download.
pub fn open_with(
    paths: &[PathBuf],
    key: Option<Arc<Key>>,
    options: &OpenOptions,
) -> Result<Box<dyn Recording>, PlaybackError> {
    use terminal::Source;
    let kinds = paths.iter().map(|p| sniff_file(p, key.as_deref())).collect::<Result<Vec<_>, _>>()?;
    let topts = &options.terminal;
    let one = |source: Source| -> Result<Box<dyn Recording>, PlaybackError> {
        Ok(Box::new(TerminalRecording::open_limited(source, key.clone(), topts, options.limits)?))
    };
    let typescript = |data: &PathBuf, timing: &PathBuf| {
        one(Source::Typescript { data: data.clone(), timing: timing.clone() })
    };
    match kinds.as_slice() {
        [Content::Tar] => download::open_tar(&paths[0], key.clone(), options),
        [Content::CastStream(header)] => one(Source::Cast { path: paths[0].clone(), version: header.version }),
        [Content::JsonDocument] => match download::replay_index_parts(&paths[0], key.as_deref())? {
            Some(parts) => open_with(&parts, key.clone(), options),
            None => one(Source::Document { path: paths[0].clone() }),
        },
        [Content::TypescriptData] | [Content::Unknown] if topts.timing.is_some() => {
            typescript(&paths[0], topts.timing.as_ref().expect("checked"))
        }
        [Content::TypescriptData] => {
            let mut sibling = paths[0].as_os_str().to_owned();
            sibling.push(".timing");
            let sibling = PathBuf::from(sibling);
            if !sibling.is_file() {
                return Err(TermError::Format {
                    file: paths[0].display().to_string(),
                    cause: format!(
                        "a typescript needs its timing file: give it with --timing, as a second input, or as {}",
                        sibling.display()
                    ),
                }
                .into());
            }
            typescript(&paths[0], &sibling)
        }
        [Content::TypescriptData | Content::Unknown, Content::Timing] => typescript(&paths[0], &paths[1]),
        [Content::Timing, Content::TypescriptData | Content::Unknown] => typescript(&paths[1], &paths[0]),
        kinds if kinds.len() > 1 && kinds.iter().any(|k| !matches!(k, Content::Guacamole | Content::Unknown)) => {
            Err(TermError::Format {
                file: paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                cause: "several inputs are only Guacamole parts of one session, or a typescript and its timing file"
                    .into(),
            }
            .into())
        }
        _ => Ok(Box::new(Session::open_limited(paths, key, options.limits)?)),
    }
}

/// What a file holds, from its first bytes after unsealing and gunzipping.
fn sniff_file(path: &std::path::Path, key: Option<&Key>) -> Result<Content, PlaybackError> {
    use std::io::Read;
    let reader = open_recording(path, key)?;
    let mut head = Vec::with_capacity(HEAD);
    // A read error (a truncated gzip) leaves what was read to judge by.
    let _ = reader.take(HEAD as u64).read_to_end(&mut head);
    Ok(sniff(&head))
}

/// A Guacamole recording (one or more parts of one session), with what the
/// first pass learned.
pub struct Session {
    pub paths: Vec<PathBuf>,
    pub names: Vec<String>,
    pub scans: Vec<scan::PartScan>,
    pub timebase: clock::Timebase,
    /// Largest screen of the session (even, for video encoders).
    pub screen: (u32, u32),
    /// Opens parts sealed at rest.
    key: Option<Arc<Key>>,
}

impl Session {
    /// Scans every part; `key` opens parts sealed at rest. Fails when the
    /// input holds no recording at all.
    pub fn open(paths: &[PathBuf], key: Option<Arc<Key>>) -> Result<Session, PlaybackError> {
        Session::open_limited(paths, key, crate::guac::limits::InputLimits::default())
    }

    /// [`Session::open`] refusing parts that decompress past `limits`.
    pub fn open_limited(
        paths: &[PathBuf],
        key: Option<Arc<Key>>,
        limits: crate::guac::limits::InputLimits,
    ) -> Result<Session, PlaybackError> {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let scans = paths
            .iter()
            .map(|p| scan::scan_part(p, key.as_deref(), limits))
            .collect::<Result<Vec<_>, _>>()?;
        let files = names.join(", ");
        if scans.iter().all(|s| s.instructions == 0) {
            return Err(PlaybackError::NotARecording { files });
        }
        let w = scans.iter().map(|s| s.max_size.0).max().unwrap_or(0);
        let h = scans.iter().map(|s| s.max_size.1).max().unwrap_or(0);
        if w == 0 || h == 0 {
            return Err(PlaybackError::NoScreenSize { files });
        }
        let max = Limits::default().max_side;
        if w > max || h > max {
            return Err(PlaybackError::TooLarge {
                file: files,
                offset: 0,
                cause: format!("a {w}x{h} screen exceeds the limit of {max} pixels a side"),
            });
        }
        let timebase = clock::Timebase::new(&scans);
        Ok(Session { paths: paths.to_vec(), names, scans, timebase, screen: (w + w % 2, h + h % 2), key })
    }
}

impl Recording for Session {
    fn describe(&self) -> String {
        self.names.join(", ")
    }

    fn screen(&self) -> (u32, u32) {
        self.screen
    }

    fn span_ms(&self) -> i64 {
        self.timebase.span
    }

    fn input_bytes(&self) -> u64 {
        self.scans.iter().map(|s| s.bytes).sum()
    }

    fn play(
        &self,
        sink: &mut dyn FrameSink,
        diag: &Diagnostics,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        if !self.timebase.has_time() {
            diag.warn(
                &self.names.join(", "),
                0,
                "no sync or timestamped mouse: the recording has no time line; the video shows its final picture",
            );
        }
        let steps = source::spawn(self.paths.clone(), self.names.clone(), self.key.clone(), diag.clone());
        let mut player = Player::new(
            self.screen,
            self.timebase.clone(),
            self.names.clone(),
            Limits::default(),
            diag.clone(),
        );
        player.run(steps, sink, progress)
    }

    fn key_events(&self) -> Result<Vec<KeyEvent>, PlaybackError> {
        let time = |part: usize, raw: i64| self.timebase.session_time(part, raw);
        let read = crate::keys::read_events(&self.paths, self.key.as_deref(), &time)?;
        if read.malformed > 0 {
            tracing::warn!(files = %self.names.join(", "), malformed = read.malformed, "key instructions without numbers were skipped");
        }
        Ok(read.events)
    }
}

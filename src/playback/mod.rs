//! Playing a recording: a first pass for its time line and screen size, a
//! reader thread that parses and decodes, and a player that draws and calls
//! a [`FrameSink`] at every moment the picture may change.

pub mod clock;
pub mod diagnostics;
pub mod player;
pub mod scan;
pub mod source;

use std::path::PathBuf;

pub use diagnostics::{Diagnostics, Report};
pub use player::{Flow, FrameSink, Player};

use crate::guac::input::InputError;
use crate::render::Limits;

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
    #[error("{0}")]
    Sink(String),
}

/// Everything needed to play a recording, learned from the first pass.
pub struct Session {
    pub paths: Vec<PathBuf>,
    pub names: Vec<String>,
    pub scans: Vec<scan::PartScan>,
    pub timebase: clock::Timebase,
    /// Largest screen of the session (even, for video encoders).
    pub screen: (u32, u32),
}

impl Session {
    /// Scans every part. Fails when the input holds no recording at all.
    pub fn open(paths: &[PathBuf]) -> Result<Session, PlaybackError> {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let scans = paths.iter().map(|p| scan::scan_part(p)).collect::<Result<Vec<_>, _>>()?;
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
        Ok(Session { paths: paths.to_vec(), names, scans, timebase, screen: (w + w % 2, h + h % 2) })
    }

    /// Plays the session into `sink`.
    pub fn play(
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
        let steps = source::spawn(self.paths.clone(), self.names.clone(), diag.clone());
        let mut player = Player::new(
            self.screen,
            self.timebase.clone(),
            self.names.clone(),
            Limits::default(),
            diag.clone(),
        );
        player.run(steps, sink, progress)
    }

    pub fn input_bytes(&self) -> u64 {
        self.scans.iter().map(|s| s.bytes).sum()
    }
}

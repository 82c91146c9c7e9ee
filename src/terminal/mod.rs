//! Terminal recordings: the text sessions (SSH, telnet, database shells)
//! that JumpServer's KoKo records as asciicast and guacd records as
//! typescripts.
//!
//! This layer reads the recording formats into one stream of timed
//! [`Event`]s (`asciicast`, `typescript`, told apart by `detect`), keeps the
//! screen in asciinema's own emulator (`screen`, on the `avt` crate), and
//! draws it into the same premultiplied pixels the Guacamole renderer makes
//! (`font`, `raster`, `theme`). It knows nothing of frames or video:
//! `playback::terminal` plays it into the converter's frame sink.

pub mod asciicast;
pub mod detect;
pub mod document;
pub mod font;
pub mod lines;
pub mod raster;
pub mod screen;
pub mod theme;
pub mod typescript;
pub mod utf8;

/// Terminals larger than this are refused as absurd (xterm's own limits are
/// lower in practice; a 4K screen at a 6 px font is about 1000 columns).
pub const MAX_COLS: u16 = 1000;
pub const MAX_ROWS: u16 = 500;
/// The size used when a recording carries none (a typescript, KoKo's old
/// JSON) and none is given with `--size`.
pub const DEFAULT_SIZE: (u16, u16) = (80, 24);
/// KoKo's size when the PTY reported none.
pub const KOKO_DEFAULT_SIZE: (u16, u16) = (80, 40);
/// Times beyond this are refused as absurd (a session of a year).
pub const MAX_TIME_MS: i64 = 366 * 24 * 3600 * 1000;

/// One timed happening of a terminal session, in ms from the recording's zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ms: i64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Bytes the terminal printed, as text.
    Output(String),
    /// The terminal took a new size (columns, rows).
    Resize(u16, u16),
    /// Anything else that carries time: input, markers, the exit status.
    Other,
}

/// What a reader yields: an event, or a problem at a byte offset of the
/// (decompressed) input.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(Event),
    Warning {
        offset: u64,
        message: String,
    },
    /// The input ended inside a line or a gzip member: what came before stands.
    Truncated {
        offset: u64,
    },
}

/// Errors that stop a terminal recording from being read at all.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("{file}: {cause}")]
    Format { file: String, cause: String },
    #[error("{file}: a {cols}x{rows} terminal is too large (the limit is {max_cols}x{max_rows})")]
    TooLarge { file: String, cols: u64, rows: u64, max_cols: u16, max_rows: u16 },
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("terminal font: {0}")]
    Font(String),
}

/// Checks a terminal size from a header or an event.
pub fn check_size(file: &str, cols: u64, rows: u64) -> Result<(u16, u16), TermError> {
    if cols > u64::from(MAX_COLS) || rows > u64::from(MAX_ROWS) {
        return Err(TermError::TooLarge {
            file: file.to_string(),
            cols,
            rows,
            max_cols: MAX_COLS,
            max_rows: MAX_ROWS,
        });
    }
    Ok((cols as u16, rows as u16))
}

/// Seconds (as a recording writes them) to ms; `None` when not a usable time.
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let ms = (seconds * 1000.0).round();
    (ms <= MAX_TIME_MS as f64).then_some(ms as i64)
}

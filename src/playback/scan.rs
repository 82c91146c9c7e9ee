//! A quick first pass over the parts of a recording: where its time starts
//! and ends and how large the screen gets. Knowing these up front lets the
//! video have one fixed size that fits every moment of the session, lets
//! progress show a real ETA, and lets the video last exactly the session.

use std::path::{Path, PathBuf};

use crate::guac::input::open_bounded;
use crate::guac::limits::InputLimits;
use crate::guac::{Event, Instruction, Parser};
use crate::seal::Key;

use super::PlaybackError;

/// What the first pass learned about one part.
#[derive(Debug, Clone, Default)]
pub struct PartScan {
    pub path: PathBuf,
    /// Timestamp of the first `sync` (the part's time origin), if any.
    pub first_sync: Option<i64>,
    /// First timestamp of any kind (used when there is no `sync`).
    pub first_timestamp: Option<i64>,
    /// Largest `sync` or `mouse` timestamp.
    pub last_timestamp: Option<i64>,
    /// Largest width and height the default layer was given.
    pub max_size: (u32, u32),
    pub instructions: u64,
    pub bytes: u64,
}

impl PartScan {
    /// The raw timestamp that is this part's time zero.
    pub fn origin(&self) -> Option<i64> {
        self.first_sync.or(self.first_timestamp)
    }
}

/// Scans one part; a part that decompresses past `limits` is refused here,
/// before anything is drawn (the second pass reads the same bytes).
pub fn scan_part(path: &Path, key: Option<&Key>, limits: InputLimits) -> Result<PartScan, PlaybackError> {
    let (reader, trip) = open_bounded(path, key, limits)?;
    let mut parser = Parser::new(reader);
    let mut scan = PartScan { path: path.to_path_buf(), ..PartScan::default() };
    while let Some(event) = parser.next_event() {
        let Event::Instruction(raw) = event else {
            continue;
        };
        scan.instructions += 1;
        match Instruction::from_raw(&raw) {
            Ok(Instruction::Sync { timestamp }) => {
                scan.first_sync.get_or_insert(timestamp);
                scan.note_time(timestamp);
            }
            Ok(Instruction::Mouse { timestamp: Some(t), .. }) => scan.note_time(t),
            Ok(Instruction::Size { layer: 0, w, h }) => {
                scan.max_size.0 = scan.max_size.0.max(w.max(0) as u32);
                scan.max_size.1 = scan.max_size.1.max(h.max(0) as u32);
            }
            _ => {}
        }
    }
    trip.check()?;
    scan.bytes = parser.offset();
    Ok(scan)
}

impl PartScan {
    fn note_time(&mut self, t: i64) {
        self.first_timestamp.get_or_insert(t);
        self.last_timestamp = Some(self.last_timestamp.map_or(t, |l| l.max(t)));
    }
}

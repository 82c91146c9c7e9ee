//! The keystroke track: what was typed during a Guacamole session, as text
//! with the time of each batch, the way Apache Guacamole 1.6's recording
//! player shows it beside the video.
//!
//! guacd writes a `key,<keysym>,<pressed>,<timestamp>` instruction for each
//! key press and release when `recording-include-keys` is set. [`keysym`]
//! names each key exactly as guacamole-common-js 1.6's `KeyEventInterpreter`
//! does (the conformance tests run it as the oracle); [`events`] reads them
//! from the recording on the video's time line; [`batches`] turns them into
//! text batches as the player's key event display does (modifier chords,
//! named keys, a new batch after 5 s without a key); [`vtt`] writes them as
//! WebVTT cues, the sidecar and the source of the MP4's subtitle track.

pub mod batches;
pub mod events;
pub mod keysym;
pub mod vtt;

pub use batches::{Batch, batches};
pub use events::{KeyEvent, read_events};
pub use keysym::{KeyDefinition, definition};

/// Where the keystroke track goes. Recordings carry typed passwords: the
/// default puts the text nowhere it was not before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyTrack {
    #[default]
    Off,
    /// A WebVTT file beside the MP4 (`<name>.keys.vtt`).
    Sidecar,
    /// The sidecar, and a subtitle track (`mov_text`) inside the MP4.
    Embed,
}

impl KeyTrack {
    pub fn parse(s: &str) -> Option<KeyTrack> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Some(KeyTrack::Off),
            "sidecar" => Some(KeyTrack::Sidecar),
            "embed" => Some(KeyTrack::Embed),
            _ => None,
        }
    }
}

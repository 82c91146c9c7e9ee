//! Which failures are worth another attempt, and when.
//!
//! Transient failures (storage unreachable, ffmpeg killed or missing, disk
//! full) are retried with exponential backoff and jitter, without a limit
//! on attempts while the inputs exist: an outage of any length ends with the
//! recording stored. Permanent failures (the input is not a usable
//! recording) fail the task at once with the cause.

use crate::convert::ConvertError;
use crate::encode::EncodeError;
use crate::playback::PlaybackError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transient,
    Permanent,
}

/// Classifies a conversion failure.
pub fn classify(e: &ConvertError) -> Kind {
    match e {
        ConvertError::Playback(p) => match p {
            PlaybackError::Input(crate::guac::input::InputError::Open { .. }) => Kind::Transient,
            PlaybackError::Input(_)
            | PlaybackError::TooLarge { .. }
            | PlaybackError::NotARecording { .. }
            | PlaybackError::NoScreenSize { .. }
            | PlaybackError::Limit(_) => Kind::Permanent,
            PlaybackError::Terminal(crate::terminal::TermError::Io { .. }) => Kind::Transient,
            PlaybackError::Terminal(_) => Kind::Permanent,
            PlaybackError::Sink(_) => Kind::Transient,
        },
        ConvertError::Encode(EncodeError::Missing(_) | EncodeError::Spawn { .. })
        | ConvertError::Encode(EncodeError::Failed { .. } | EncodeError::Pipe(_) | EncodeError::Stalled(_))
        | ConvertError::Output { .. } => Kind::Transient,
        ConvertError::Settings(_) => Kind::Permanent,
    }
}

/// Delay before attempt `attempt + 1`: 5 s doubling per attempt, capped,
/// with up to 25 % random jitter so a fleet does not retry in lockstep.
pub fn backoff_ms(attempt: u32, max_ms: i64) -> i64 {
    let base = 5_000i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(20));
    let capped = base.min(max_ms);
    let jitter = (capped as f64 * 0.25 * rand::random::<f64>()) as i64;
    (capped - jitter).max(1_000.min(max_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_with_jitter() {
        let first = backoff_ms(1, 600_000);
        assert!((3_750..=5_000).contains(&first), "{first}");
        let fourth = backoff_ms(4, 600_000);
        assert!((30_000..=40_000).contains(&fourth), "{fourth}");
        let late = backoff_ms(60, 600_000);
        assert!((450_000..=600_000).contains(&late), "{late}");
    }

    #[test]
    fn not_a_recording_is_permanent_and_a_dead_encoder_is_not() {
        let bad = ConvertError::Playback(PlaybackError::NotARecording { files: "x".into() });
        assert_eq!(classify(&bad), Kind::Permanent);
        let died =
            ConvertError::Encode(EncodeError::Failed { status: "signal 9".into(), tail: String::new() });
        assert_eq!(classify(&died), Kind::Transient);
    }
}

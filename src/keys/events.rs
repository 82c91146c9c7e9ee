//! Key events read from the parts of a Guacamole recording, on the video's
//! time line.

use std::path::PathBuf;

use crate::guac::input::{InputError, open_recording};
use crate::guac::{Event, Parser};
use crate::seal::Key;

/// One press or release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    /// Session time in ms: the video's time of the event.
    pub t_ms: i64,
    pub keysym: i64,
    pub pressed: bool,
}

/// What was read, and what could not be.
#[derive(Debug, Default)]
pub struct KeyEvents {
    pub events: Vec<KeyEvent>,
    /// `key` instructions without a number where one must be.
    pub malformed: u64,
}

/// Reads every `key` instruction of `parts` in order. `session_time` maps a
/// part's raw timestamp to the video's time line (the player's own map, so
/// a key lands on the frame it was typed over).
pub fn read_events(
    parts: &[PathBuf],
    key: Option<&Key>,
    session_time: &dyn Fn(usize, i64) -> i64,
) -> Result<KeyEvents, InputError> {
    let mut read = KeyEvents::default();
    for (part, path) in parts.iter().enumerate() {
        let mut parser = Parser::new(open_recording(path, key)?);
        while let Some(event) = parser.next_event() {
            let Event::Instruction(raw) = event else { continue };
            if raw.opcode != "key" {
                continue;
            }
            let number = |i: usize| raw.args.get(i).and_then(|a| parse_int(a));
            match (number(0), number(1), number(2)) {
                (Some(keysym), pressed, Some(raw_ms)) => read.events.push(KeyEvent {
                    t_ms: session_time(part, raw_ms),
                    keysym,
                    // The interpreter's `!!parseInt(pressed)`: NaN and 0 are releases.
                    pressed: pressed.is_some_and(|p| p != 0),
                }),
                _ => read.malformed += 1,
            }
        }
    }
    Ok(read)
}

/// JavaScript's `parseInt(s)` for base 10: leading space, a sign, then
/// digits up to the first other character; `None` where it gives NaN.
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    // Saturates like the rest of the parser instead of overflowing.
    let value = rest[..digits].parse::<i64>().unwrap_or(i64::MAX);
    Some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_is_javascripts() {
        assert_eq!(parse_int("65"), Some(65));
        assert_eq!(parse_int(" 12abc"), Some(12));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
    }

    #[test]
    fn key_instructions_become_events_on_the_session_time_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.guac");
        std::fs::write(
            &path,
            "4.size,1.0,2.64,2.48;4.sync,4.1000;3.key,2.99,1.1,4.1005;3.key,2.99,1.0,4.1090;\
             3.key,1.x,1.1,4.1100;3.key,3.100,1.1;",
        )
        .unwrap();
        let read = read_events(&[path], None, &|_, raw| raw - 1000).unwrap();
        let got: Vec<(i64, i64, bool)> = read.events.iter().map(|e| (e.t_ms, e.keysym, e.pressed)).collect();
        assert_eq!(got, [(5, 99, true), (90, 99, false)]);
        assert_eq!(read.malformed, 2);
    }
}

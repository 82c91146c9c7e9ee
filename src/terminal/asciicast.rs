//! asciicast, as asciinema and JumpServer's KoKo write it.
//!
//! - v2: a one-line JSON header (`width`/`height`, which KoKo may leave 0 or
//!   out), then one `[seconds, code, data]` event a line, seconds from the
//!   recording's start.
//! - v3: a header with `term.cols`/`term.rows`, events whose time is the
//!   interval since the previous event, `#` comment lines.
//! - v1: one JSON document with `stdout: [[delay, data], ...]`.
//! - KoKo before v2.17: one JSON object `{"<seconds>": "<data>", ...}`.
//!
//! Event codes: `o` output, `r` resize (`"COLSxROWS"`), and `i` input, `m`
//! marker, `x` exit, which only carry time. A line that is not an event is
//! skipped with a warning naming its byte offset; the stream formats are
//! read as they come, so memory does not grow with the session.

use std::io::BufRead;

use serde_json::Value;

use super::lines::{Line, Lines};
use super::{Event, EventKind, Item, check_size, seconds_to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

/// What a stream header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    /// `None` when the header gives no size or a zero one (KoKo may).
    pub size: Option<(u64, u64)>,
}

/// The header of a v2 or v3 stream, if `line` is one.
pub fn parse_header(line: &[u8]) -> Option<Header> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let object = value.as_object()?;
    let version = match object.get("version")?.as_u64()? {
        2 => Version::V2,
        3 => Version::V3,
        _ => return None,
    };
    let (cols, rows) = match version {
        Version::V2 => (object.get("width"), object.get("height")),
        Version::V3 => {
            let term = object.get("term");
            (term.and_then(|t| t.get("cols")), term.and_then(|t| t.get("rows")))
        }
    };
    let num = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let (cols, rows) = (num(cols), num(rows));
    let size = (cols > 0 && rows > 0).then_some((cols, rows));
    Some(Header { version, size })
}

/// Parses `"COLSxROWS"`, as `r` events carry it.
pub fn parse_resize(text: &str) -> Option<(u64, u64)> {
    let (c, r) = text.trim().split_once(['x', 'X'])?;
    Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
}

/// The events of a v2 or v3 stream (the header line already read).
pub struct CastEvents<R> {
    lines: Lines<R>,
    version: Version,
    file: String,
    /// Time of the previous event in ms (v3 adds to it; v2 never goes back).
    last_ms: i64,
    /// A v3 stream's time before rounding, so many small intervals do not drift.
    v3_seconds: f64,
    pending: Option<Item>,
}

impl<R: BufRead> CastEvents<R> {
    /// `lines` must be positioned after the header line.
    pub fn new(lines: Lines<R>, version: Version, file: &str) -> CastEvents<R> {
        CastEvents { lines, version, file: file.to_string(), last_ms: 0, v3_seconds: 0.0, pending: None }
    }

    fn event(&mut self, offset: u64, bytes: &[u8]) -> Option<Item> {
        let trimmed = trim(bytes);
        if trimmed.is_empty() || (self.version == Version::V3 && trimmed.starts_with(b"#")) {
            return None;
        }
        let parsed: Result<(f64, String, Value), _> = match serde_json::from_slice(trimmed) {
            Ok(v) => Ok(v),
            // Not valid UTF-8 inside a string: read it the way KoKo would have written it.
            Err(e) if std::str::from_utf8(trimmed).is_err() => {
                serde_json::from_str(&String::from_utf8_lossy(trimmed)).map_err(|_| e)
            }
            Err(e) => Err(e),
        };
        let (time, code, data) = match parsed {
            Ok(v) => v,
            Err(e) => {
                return Some(warning(offset, format!("not an asciicast event ({e}); line skipped")));
            }
        };
        let seconds = match self.version {
            Version::V2 => time,
            Version::V3 => {
                if time.is_finite() && time >= 0.0 {
                    self.v3_seconds += time;
                }
                self.v3_seconds
            }
        };
        let Some(ms) = seconds_to_ms(seconds) else {
            return Some(warning(offset, format!("event time {time} is not a usable time; line skipped")));
        };
        // Times never go back: an event stamped earlier is shown at the latest time seen.
        let ms = ms.max(self.last_ms);
        self.last_ms = ms;
        let kind = match (code.as_str(), data) {
            ("o", Value::String(text)) => EventKind::Output(text),
            ("r", Value::String(text)) => match parse_resize(&text) {
                Some((c, r)) if c > 0 && r > 0 => match check_size(&self.file, c, r) {
                    Ok((c, r)) => EventKind::Resize(c, r),
                    Err(e) => return Some(warning(offset, format!("{e}; resize ignored"))),
                },
                _ => return Some(warning(offset, format!("resize to '{text}' is not COLSxROWS; ignored"))),
            },
            ("o", other) => {
                return Some(warning(offset, format!("output data is not a string ({other}); skipped")));
            }
            _ => EventKind::Other,
        };
        Some(Item::Event(Event { ms, kind }))
    }
}

impl<R: BufRead> Iterator for CastEvents<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Some(item) = self.pending.take() {
            return Some(item);
        }
        loop {
            match self.lines.next()? {
                Line::Text { offset, bytes } => {
                    if let Some(item) = self.event(offset, &bytes) {
                        return Some(item);
                    }
                }
                Line::TooLong { offset, len } => {
                    return Some(warning(
                        offset,
                        format!("a {len}-byte line is too long for an event; skipped"),
                    ));
                }
                Line::Broken { offset, cause } => {
                    self.pending = Some(Item::Truncated { offset });
                    return Some(warning(offset, format!("the input breaks off here ({cause})")));
                }
            }
        }
    }
}

fn warning(offset: u64, message: String) -> Item {
    Item::Warning { offset, message }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &bytes[start..end]
}

pub use super::document::{Document, DocumentKind, read_document};

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &str) -> (Header, Vec<Item>) {
        let mut lines = Lines::new(text.as_bytes());
        let Some(Line::Text { bytes, .. }) = lines.next() else { panic!("no header") };
        let header = parse_header(&bytes).expect("a header");
        (header, CastEvents::new(lines, header.version, "t.cast").collect())
    }

    fn out(ms: i64, text: &str) -> Item {
        Item::Event(Event { ms, kind: EventKind::Output(text.into()) })
    }

    #[test]
    fn koko_v2_with_zero_size_and_go_escapes() {
        let text = "{\"version\":2,\"width\":0,\"height\":0,\"timestamp\":1700000000,\"title\":\"\",\"env\":{\"SHELL\":\"/bin/bash\",\"TERM\":\"xterm\"}}\n[0.123456,\"o\",\"\\u003cb\\u003e \\ufffd\"]\n";
        let (header, items) = stream(text);
        assert_eq!(header, Header { version: Version::V2, size: None });
        assert_eq!(items, vec![out(123, "<b> \u{fffd}")]);
    }

    #[test]
    fn v3_times_are_intervals_and_resizes_count() {
        let text = "{\"version\":3,\"term\":{\"cols\":100,\"rows\":30}}\n# a comment\n[0.5,\"o\",\"a\"]\n[0.25,\"r\",\"120x40\"]\n[1.0,\"m\",\"\"]\n[0.5,\"x\",\"0\"]\n";
        let (header, items) = stream(text);
        assert_eq!(header.size, Some((100, 30)));
        assert_eq!(
            items,
            vec![
                out(500, "a"),
                Item::Event(Event { ms: 750, kind: EventKind::Resize(120, 40) }),
                Item::Event(Event { ms: 1750, kind: EventKind::Other }),
                Item::Event(Event { ms: 2250, kind: EventKind::Other }),
            ]
        );
    }

    #[test]
    fn a_broken_line_is_a_warning_at_its_offset() {
        let text =
            "{\"version\":2,\"width\":80,\"height\":24}\n[1.0,\"o\",\"a\"]\n[1.5,\"o\",\n[2.0,\"o\",\"b\"]\n";
        let (_, items) = stream(text);
        assert_eq!(items.len(), 3);
        let Item::Warning { offset, .. } = &items[1] else { panic!("{items:?}") };
        assert_eq!(*offset, 51);
        assert_eq!(items[2], out(2000, "b"));
    }

    #[test]
    fn absurd_resize_is_ignored_with_a_warning() {
        let text = "{\"version\":2,\"width\":80,\"height\":24}\n[1.0,\"r\",\"99999x99999\"]\n";
        let (_, items) = stream(text);
        assert!(
            matches!(&items[0], Item::Warning { message, .. } if message.contains("too large")),
            "{items:?}"
        );
    }
}

//! Typescripts: a data file of raw terminal output and a timing file of
//! `delay bytes` lines, as guacd (`typescript-path`) and util-linux
//! `script --timing` write them and `scriptreplay` plays them.
//!
//! The data file starts with one header line the timing does not count
//! (guacd's `[BEGIN TYPESCRIPT]`, script's `Script started on ...`); bytes
//! after the last counted one (guacd's `[END TYPESCRIPT]`) are not output.
//! util-linux's advanced timing format (`O delay bytes`, with `I`, `H`, `S`
//! lines) is read too: only output entries count.

use std::io::{BufRead, Read};

use super::lines::{Line, Lines};
use super::utf8::Utf8Stream;
use super::{Event, EventKind, Item, seconds_to_ms};

/// The header lines that mark a typescript's data file.
pub fn is_data_header(head: &[u8]) -> bool {
    head.starts_with(b"Script started on") || head.starts_with(b"[BEGIN TYPESCRIPT]")
}

/// Whether `head` (the first bytes of a file) reads as a timing file.
pub fn looks_like_timing(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    if lines.peek().is_none() {
        return false;
    }
    // The last line may be cut by the head's end: judge the complete ones.
    let complete: Vec<&str> = lines.collect();
    let judged = if complete.len() > 1 { &complete[..complete.len() - 1] } else { &complete[..] };
    judged.iter().all(|l| parse_entry(l).is_some())
}

/// A timing entry: `Some((seconds, bytes, is_output))`.
fn parse_entry(line: &str) -> Option<(f64, u64, bool)> {
    let mut fields = line.split_whitespace();
    let first = fields.next()?;
    let (output, delay) = match first {
        "O" | "I" | "H" | "S" => (first == "O", fields.next()?),
        _ => (true, first),
    };
    let delay: f64 = delay.parse().ok()?;
    if first == "H" || first == "S" {
        return Some((delay, 0, false)); // header and signal entries carry no bytes
    }
    let bytes: u64 = fields.next()?.parse().ok()?;
    Some((delay, bytes, output))
}

/// Longest delay one entry may carry (guacd caps its entries at a day).
const MAX_DELAY_S: f64 = 86_400.0;
/// Longest header line searched for.
const MAX_HEADER: usize = 64 * 1024;
/// Bytes read for one entry at most; a larger count is read in pieces.
const CHUNK: u64 = 1024 * 1024;

/// The output events of a typescript.
pub struct TypescriptEvents<D, T> {
    data: D,
    timing: Lines<T>,
    utf8: Utf8Stream,
    seconds: f64,
    data_offset: u64,
    header_done: bool,
    /// Bytes of the current entry still to be read.
    owed: u64,
    owed_ms: i64,
    done: bool,
    pending: Vec<Item>,
}

impl<D: Read, T: BufRead> TypescriptEvents<D, T> {
    pub fn new(data: D, timing: T) -> TypescriptEvents<D, T> {
        TypescriptEvents {
            data,
            timing: Lines::new(timing),
            utf8: Utf8Stream::default(),
            seconds: 0.0,
            data_offset: 0,
            header_done: false,
            owed: 0,
            owed_ms: 0,
            done: false,
            pending: Vec::new(),
        }
    }

    /// Skips the header line of the data file.
    fn skip_header(&mut self) -> Result<(), Item> {
        self.header_done = true;
        let mut byte = [0u8; 1];
        while self.data_offset < MAX_HEADER as u64 {
            match self.data.read(&mut byte) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    self.data_offset += 1;
                    if byte[0] == b'\n' {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(e)),
            }
        }
        Ok(())
    }

    fn broken(&mut self, e: std::io::Error) -> Item {
        self.done = true;
        self.pending.push(Item::Truncated { offset: self.data_offset });
        Item::Warning { offset: self.data_offset, message: format!("the data file breaks off here ({e})") }
    }

    /// Reads up to one chunk of the current entry's bytes.
    fn read_owed(&mut self) -> Option<Item> {
        let want = self.owed.min(CHUNK);
        let mut buf = Vec::with_capacity(want as usize);
        match (&mut self.data).take(want).read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) => return Some(self.broken(e)),
        }
        self.data_offset += buf.len() as u64;
        if (buf.len() as u64) < want {
            self.done = true;
            let message = format!(
                "the data file ends at byte {} but the timing file counts {} more bytes; the rest is not shown",
                self.data_offset,
                want - buf.len() as u64 + (self.owed - want)
            );
            self.pending.push(Item::Warning { offset: self.data_offset, message });
        }
        self.owed -= want;
        let text = self.utf8.decode(&buf);
        if text.is_empty() {
            return self.pending.pop();
        }
        Some(Item::Event(Event { ms: self.owed_ms, kind: EventKind::Output(text) }))
    }
}

impl<D: Read, T: BufRead> Iterator for TypescriptEvents<D, T> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if !self.header_done
                && let Err(item) = self.skip_header()
            {
                return Some(item);
            }
            if self.owed > 0 {
                if let Some(item) = self.read_owed() {
                    return Some(item);
                }
                continue;
            }
            let (offset, bytes) = match self.timing.next() {
                None => {
                    self.done = true;
                    continue;
                }
                Some(Line::Text { offset, bytes }) => (offset, bytes),
                Some(Line::TooLong { offset, .. }) => {
                    return Some(Item::Warning { offset, message: "timing line too long; skipped".into() });
                }
                Some(Line::Broken { offset, cause }) => {
                    self.done = true;
                    return Some(Item::Warning {
                        offset,
                        message: format!("timing file breaks off here ({cause})"),
                    });
                }
            };
            let line = String::from_utf8_lossy(&bytes);
            if line.trim().is_empty() {
                continue;
            }
            let Some((delay, count, output)) = parse_entry(&line) else {
                return Some(Item::Warning {
                    offset,
                    message: format!("timing line '{}' is not 'delay bytes'; skipped", line.trim()),
                });
            };
            if delay.is_finite() && delay > 0.0 {
                self.seconds += delay.min(MAX_DELAY_S);
            }
            let Some(ms) = seconds_to_ms(self.seconds) else {
                self.done = true;
                return Some(Item::Warning {
                    offset,
                    message: "the session is too long; the rest is not shown".into(),
                });
            };
            if !output {
                if count > 0 {
                    // Input bytes are not in the data file of the classic pair.
                    continue;
                }
                return Some(Item::Event(Event { ms, kind: EventKind::Other }));
            }
            self.owed = count;
            self.owed_ms = ms;
            if count == 0 {
                return Some(Item::Event(Event { ms, kind: EventKind::Other }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(data: &[u8], timing: &str) -> Vec<Item> {
        TypescriptEvents::new(data, timing.as_bytes()).collect()
    }

    fn out(ms: i64, text: &str) -> Item {
        Item::Event(Event { ms, kind: EventKind::Output(text.into()) })
    }

    #[test]
    fn guacd_shape_skips_header_and_trailer() {
        let data = "[BEGIN TYPESCRIPT]\nhello 中文\n[END TYPESCRIPT]\n".as_bytes();
        // "hello " is 6 bytes, "中" 3, "文\n" 4: the second entry splits nothing.
        let got = events(data, "0.5 6\n1.25 3\n0.25 4\n");
        assert_eq!(got, vec![out(500, "hello "), out(1750, "中"), out(2000, "文\n")]);
    }

    #[test]
    fn a_character_split_across_entries_is_joined() {
        let data = "Script started on x\n中".as_bytes();
        let got = events(data, "0.1 1\n0.1 2\n");
        assert_eq!(got, vec![out(200, "中")]);
    }

    #[test]
    fn advanced_format_and_short_data() {
        let data = b"Script started\nabc";
        let got = events(data, "H 0 START_TIME x\nO 0.5 2\nI 0.1 3\nO 0.4 5\n");
        assert_eq!(got[0], Item::Event(Event { ms: 0, kind: EventKind::Other }));
        assert_eq!(got[1], out(500, "ab"));
        assert_eq!(got[2], out(1000, "c"));
        assert!(
            matches!(&got[3], Item::Warning { message, .. } if message.contains("ends at byte")),
            "{got:?}"
        );
    }

    #[test]
    fn timing_files_are_recognised() {
        assert!(looks_like_timing(b"0.5 6\n1.25 3\n"));
        assert!(looks_like_timing(b"O 0.5 6\nI 0.1 2\n0.2 1"));
        assert!(!looks_like_timing(b"Script started on\n"));
        assert!(!looks_like_timing(b"4.sync,1.5;"));
    }
}

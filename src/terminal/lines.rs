//! Reading an input line by line with byte offsets, bounded: one absurdly
//! long line is skipped, not buffered whole, and a read error (a truncated
//! gzip member) ends the input with a note instead of losing what came before.

use std::io::{BufRead, ErrorKind};

/// Longest line kept (asciicast events are one line each; a burst of output
/// is rarely more than a few hundred KB).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(Debug, PartialEq)]
pub enum Line {
    /// A line without its end-of-line bytes, and where it started.
    Text { offset: u64, bytes: Vec<u8> },
    /// A line over the limit, skipped.
    TooLong { offset: u64, len: u64 },
    /// The input broke off (read error) at this offset; nothing follows.
    Broken { offset: u64, cause: String },
}

pub struct Lines<R> {
    inner: R,
    offset: u64,
    max: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines::with_limit(inner, MAX_LINE)
    }

    pub fn with_limit(inner: R, max: usize) -> Lines<R> {
        Lines { inner, offset: 0, max, done: false }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.done {
            return None;
        }
        let start = self.offset;
        let mut bytes = Vec::new();
        let mut len: u64 = 0;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Line::Broken { offset: self.offset, cause: e.to_string() });
                }
            };
            if buf.is_empty() {
                self.done = true;
                if len == 0 {
                    return None;
                }
                break;
            }
            let (take, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if len + (take as u64) <= self.max as u64 + 1 {
                bytes.extend_from_slice(&buf[..take]);
            } else {
                bytes = Vec::new(); // over the limit: count, keep nothing
            }
            len += take as u64;
            self.inner.consume(take);
            self.offset += take as u64;
            if found {
                break;
            }
        }
        if len > self.max as u64 + 1 {
            return Some(Line::TooLong { offset: start, len });
        }
        while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            bytes.pop();
        }
        Some(Line::Text { offset: start, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_offsets_and_long_ones_are_skipped() {
        let input: &[u8] = b"ab\r\n0123456789\nlast";
        let got: Vec<Line> = Lines::with_limit(input, 5).collect();
        assert_eq!(
            got,
            vec![
                Line::Text { offset: 0, bytes: b"ab".to_vec() },
                Line::TooLong { offset: 4, len: 11 },
                Line::Text { offset: 15, bytes: b"last".to_vec() },
            ]
        );
    }
}

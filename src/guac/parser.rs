//! Streaming parser for the Guacamole protocol: `LENGTH.VALUE(,LENGTH.VALUE)*;`.
//!
//! The parser reads through a fixed-size buffer and never holds more than one
//! instruction, so a multi-gigabyte recording costs the same memory as a small
//! one. Element lengths count Unicode code points (as libguac's parser does),
//! and the protocol's limits apply: at most [`MAX_ELEMENT_CHARS`] characters
//! per element and [`MAX_ELEMENTS`] elements per instruction.
//!
//! Recordings are evidence, so the parser recovers where libguac gives up: an
//! over-long element or an instruction with too many elements is skipped
//! exactly (its length prefixes are still valid), and a malformed instruction
//! is skipped up to the next `;`. Every such event is reported as a
//! [`ParseIssue`] with the byte offset where the instruction started.

use std::io::{self, Read};

/// libguac's `GUAC_INSTRUCTION_MAX_LENGTH`: characters per element.
pub const MAX_ELEMENT_CHARS: usize = 8192;
/// libguac's `GUAC_INSTRUCTION_MAX_ELEMENTS`: elements per instruction.
pub const MAX_ELEMENTS: usize = 128;
/// A length prefix longer than this many digits cannot be valid.
const MAX_LENGTH_DIGITS: usize = 9;
const READ_CHUNK: usize = 64 * 1024;

/// One instruction as it appeared in the stream: the opcode and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// Byte offset of the instruction's first byte in the (decompressed) stream.
    pub offset: u64,
    pub opcode: String,
    pub args: Vec<String>,
}

/// Something wrong in the stream that the parser stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIssue {
    pub offset: u64,
    pub kind: IssueKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueKind {
    /// An element longer than the protocol allows; the instruction was skipped.
    ElementTooLong { chars: usize },
    /// More elements than the protocol allows; the instruction was skipped.
    TooManyElements,
    /// The stream does not follow the syntax here; skipped to the next `;`.
    Malformed { reason: String },
    /// The stream ends inside an instruction (a recording cut off).
    Truncated,
    /// Reading the underlying stream failed (e.g. corrupt gzip data).
    ReadFailed { cause: String },
}

impl std::fmt::Display for IssueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueKind::ElementTooLong { chars } => write!(
                f,
                "element of {chars} characters exceeds the protocol limit of {MAX_ELEMENT_CHARS}; instruction skipped"
            ),
            IssueKind::TooManyElements => {
                write!(f, "instruction has more than {MAX_ELEMENTS} elements; instruction skipped")
            }
            IssueKind::Malformed { reason } => {
                write!(f, "malformed instruction ({reason}); skipped to the next ';'")
            }
            IssueKind::Truncated => write!(f, "recording ends inside an instruction (truncated)"),
            IssueKind::ReadFailed { cause } => write!(f, "reading failed: {cause}"),
        }
    }
}

/// What [`Parser::next_event`] yields.
#[derive(Debug)]
pub enum Event {
    Instruction(RawInstruction),
    Issue(ParseIssue),
}

/// Pull parser over any reader.
pub struct Parser<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    /// Offset in the stream of `buf[0]`.
    base: u64,
    eof: bool,
    read_error: Option<String>,
    finished: bool,
}

/// Outcome of scanning one element.
enum Element {
    Value(String, u8),
    /// The element was too long; it was consumed without being stored.
    Skipped(usize, u8),
}

/// Why an instruction could not be completed.
enum Failure {
    Eof,
    Syntax(String),
}

impl<R: Read> Parser<R> {
    pub fn new(reader: R) -> Self {
        Parser {
            reader,
            buf: Vec::with_capacity(READ_CHUNK * 2),
            pos: 0,
            base: 0,
            eof: false,
            read_error: None,
            finished: false,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next instruction or issue; `None` at the end of the stream.
    pub fn next_event(&mut self) -> Option<Event> {
        if self.finished {
            return None;
        }
        self.skip_whitespace();
        if self.peek().is_none() {
            self.finished = true;
            return self.read_error.take().map(|cause| {
                Event::Issue(ParseIssue { offset: self.offset(), kind: IssueKind::ReadFailed { cause } })
            });
        }
        let start = self.offset();
        match self.instruction(start) {
            Ok(event) => Some(event),
            Err(Failure::Eof) => {
                self.finished = true;
                let kind = match self.read_error.take() {
                    Some(cause) => IssueKind::ReadFailed { cause },
                    None => IssueKind::Truncated,
                };
                Some(Event::Issue(ParseIssue { offset: start, kind }))
            }
            Err(Failure::Syntax(reason)) => {
                self.skip_past_semicolon();
                Some(Event::Issue(ParseIssue { offset: start, kind: IssueKind::Malformed { reason } }))
            }
        }
    }

    fn instruction(&mut self, start: u64) -> Result<Event, Failure> {
        let mut elements: Vec<String> = Vec::new();
        let mut too_long: Option<usize> = None;
        let mut count = 0usize;
        loop {
            let (terminator, value) = match self.element()? {
                Element::Value(v, t) => (t, Some(v)),
                Element::Skipped(chars, t) => {
                    too_long.get_or_insert(chars);
                    (t, None)
                }
            };
            count += 1;
            if let Some(v) = value
                && too_long.is_none()
                && count <= MAX_ELEMENTS
            {
                elements.push(v);
            }
            if terminator == b';' {
                break;
            }
        }
        let kind = if let Some(chars) = too_long {
            IssueKind::ElementTooLong { chars }
        } else if count > MAX_ELEMENTS {
            IssueKind::TooManyElements
        } else {
            let mut it = elements.into_iter();
            let opcode = it.next().unwrap_or_default();
            return Ok(Event::Instruction(RawInstruction { offset: start, opcode, args: it.collect() }));
        };
        Ok(Event::Issue(ParseIssue { offset: start, kind }))
    }

    /// Reads `LENGTH.VALUE` and the `,` or `;` that must follow it.
    fn element(&mut self) -> Result<Element, Failure> {
        let length = self.length_prefix()?;
        let keep = length <= MAX_ELEMENT_CHARS;
        let mut value = Vec::with_capacity(if keep { length } else { 0 });
        let mut remaining = length;
        while remaining > 0 {
            self.fill(1)?;
            let avail = &self.buf[self.pos..];
            // Fast path: a run of ASCII bytes is one character per byte.
            let ascii = avail.iter().take(remaining).take_while(|b| b.is_ascii()).count();
            if ascii > 0 {
                if keep {
                    value.extend_from_slice(&avail[..ascii]);
                }
                self.pos += ascii;
                remaining -= ascii;
                continue;
            }
            let size = utf8_char_size(avail[0]);
            self.fill(size)?;
            if keep {
                value.extend_from_slice(&self.buf[self.pos..self.pos + size]);
            }
            self.pos += size;
            remaining -= 1;
        }
        self.fill(1)?;
        let terminator = self.buf[self.pos];
        if terminator != b',' && terminator != b';' {
            return Err(Failure::Syntax(format!(
                "expected ',' or ';' after a {length}-character element, found {}",
                describe_byte(terminator)
            )));
        }
        self.pos += 1;
        if keep {
            Ok(Element::Value(
                String::from_utf8(value)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                terminator,
            ))
        } else {
            Ok(Element::Skipped(length, terminator))
        }
    }

    fn length_prefix(&mut self) -> Result<usize, Failure> {
        let mut length = 0usize;
        let mut digits = 0usize;
        loop {
            self.fill(1)?;
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'0'..=b'9' if digits < MAX_LENGTH_DIGITS => {
                    length = length * 10 + usize::from(b - b'0');
                    digits += 1;
                }
                b'0'..=b'9' => return Err(Failure::Syntax("length prefix too long".into())),
                b'.' if digits > 0 => return Ok(length),
                _ => {
                    // Step back so the resync scan sees a ';' that ended the bad prefix.
                    self.pos -= 1;
                    return Err(Failure::Syntax(format!(
                        "expected a length digit or '.', found {}",
                        describe_byte(b)
                    )));
                }
            }
        }
    }

    /// Makes at least `n` bytes available at `pos`, or fails with `Eof`.
    fn fill(&mut self, n: usize) -> Result<(), Failure> {
        while self.buf.len() - self.pos < n {
            if self.eof {
                return Err(Failure::Eof);
            }
            if self.pos > READ_CHUNK {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let got = loop {
                match self.reader.read(&mut self.buf[old..]) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.read_error = Some(e.to_string());
                        break 0;
                    }
                }
            };
            self.buf.truncate(old + got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    fn peek(&mut self) -> Option<u8> {
        self.fill(1).ok()?;
        Some(self.buf[self.pos])
    }

    /// Tolerates whitespace between instructions (hand-edited or line-split files).
    fn skip_whitespace(&mut self) {
        while let Some(b) = self.peek() {
            if !b.is_ascii_whitespace() {
                break;
            }
            self.pos += 1;
        }
    }

    fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b';' {
                break;
            }
        }
    }
}

/// Character size from a UTF-8 lead byte, as libguac's `guac_utf8_charsize`
/// computes it (invalid lead bytes count as one byte).
fn utf8_char_size(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() { format!("'{}'", b as char) } else { format!("byte 0x{b:02x}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Vec<Event> {
        let mut p = Parser::new(input);
        std::iter::from_fn(|| p.next_event()).collect()
    }

    fn instructions(input: &[u8]) -> Vec<(String, Vec<String>)> {
        parse_all(input)
            .into_iter()
            .filter_map(|e| match e {
                Event::Instruction(i) => Some((i.opcode, i.args)),
                Event::Issue(_) => None,
            })
            .collect()
    }

    fn issues(input: &[u8]) -> Vec<ParseIssue> {
        parse_all(input)
            .into_iter()
            .filter_map(|e| match e {
                Event::Issue(i) => Some(i),
                Event::Instruction(_) => None,
            })
            .collect()
    }

    #[test]
    fn parses_instructions_with_offsets() {
        let events = parse_all(b"4.sync,6.644081,1.1;4.size,1.0,4.1280,3.800;");
        let Event::Instruction(second) = &events[1] else { panic!("expected an instruction") };
        assert_eq!(second.offset, 20);
        assert_eq!(second.opcode, "size");
        assert_eq!(second.args, ["0", "1280", "800"]);
    }

    #[test]
    fn lengths_count_code_points_not_bytes() {
        // "héllo→" is 6 code points but 9 bytes.
        let got = instructions("4.name,6.héllo→;3.nop;".as_bytes());
        assert_eq!(got[0].1, ["héllo→"]);
        assert_eq!(got[1].0, "nop");
    }

    #[test]
    fn truncated_tail_is_reported_after_complete_instructions() {
        let input = b"4.sync,3.100;4.sync,3.2";
        let got = parse_all(input);
        assert!(matches!(got[0], Event::Instruction(_)));
        let Event::Issue(issue) = &got[1] else { panic!("expected an issue") };
        assert_eq!(issue.kind, IssueKind::Truncated);
        assert_eq!(issue.offset, 13);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn over_long_element_is_skipped_exactly() {
        let long = "A".repeat(MAX_ELEMENT_CHARS + 1);
        let input = format!("4.blob,1.1,{}.{long};4.sync,3.100;", long.len());
        let got = parse_all(input.as_bytes());
        let Event::Issue(issue) = &got[0] else { panic!("expected an issue") };
        assert_eq!(issue.kind, IssueKind::ElementTooLong { chars: MAX_ELEMENT_CHARS + 1 });
        assert_eq!(instructions(input.as_bytes()), [("sync".into(), vec!["100".into()])]);
    }

    #[test]
    fn element_at_the_limit_is_accepted() {
        let max = "B".repeat(MAX_ELEMENT_CHARS);
        let input = format!("4.blob,1.1,{MAX_ELEMENT_CHARS}.{max};");
        assert_eq!(instructions(input.as_bytes())[0].1[1].len(), MAX_ELEMENT_CHARS);
    }

    #[test]
    fn too_many_elements_are_refused() {
        let mut input = String::from("3.nop");
        for _ in 0..MAX_ELEMENTS {
            input.push_str(",1.x");
        }
        input.push_str(";4.sync,1.5;");
        let got = issues(input.as_bytes());
        assert_eq!(got[0].kind, IssueKind::TooManyElements);
        assert_eq!(instructions(input.as_bytes()).len(), 1);
    }

    #[test]
    fn malformed_instruction_resyncs_at_next_semicolon() {
        let input = b"4.sync,3.100;4.syncX3.200;4.sync,3.300;";
        let got = instructions(input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, ["300"]);
        let bad = issues(input);
        assert_eq!(bad[0].offset, 13);
        assert!(matches!(bad[0].kind, IssueKind::Malformed { .. }));
    }

    #[test]
    fn whitespace_between_instructions_is_tolerated() {
        assert_eq!(instructions(b"3.nop;\n 3.nop;\r\n").len(), 2);
    }

    #[test]
    fn empty_input_yields_nothing() {
        assert!(parse_all(b"").is_empty());
    }

    #[test]
    fn works_across_read_chunk_boundaries() {
        let blob = "Q".repeat(8000);
        let one = format!("4.blob,1.1,8000.{blob};");
        let input = one.repeat(40);
        let got = instructions(input.as_bytes());
        assert_eq!(got.len(), 40);
        assert!(got.iter().all(|(_, a)| a[1].len() == 8000));
    }
}

//! The whole-document recordings: asciicast v1 (`{"version": 1, ...,
//! "stdout": [[delay, data], ...]}`) and KoKo's replays before v2.17
//! (`{"<seconds>": "<data>", ...}`, in any order).
//!
//! Both are one JSON document, so they are read as a stream of tokens
//! (serde's visitors over the reader), never as a whole document or a
//! `Value` tree: memory holds the events' text (bounded by
//! [`MAX_HELD`], since KoKo's entries must be sorted by time) and at
//! most one string being read (bounded by [`MAX_STRING`], checked on the
//! raw bytes before serde buffers it). A 400 KB gzip holding one 400 MB
//! string is refused after 16 MiB, not after 900 MB of memory.

use std::fmt;
use std::io::{self, BufReader, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Event, EventKind, TermError, seconds_to_ms};

/// Longest JSON string (one event's data, or a key) read.
pub const MAX_STRING: usize = 16 * 1024 * 1024;
/// Memory a document's events may take in all (they wait to be sorted):
/// their text plus [`EVENT_OVERHEAD`] each; a recording past it is refused,
/// naming this limit.
pub const MAX_HELD: usize = 192 * 1024 * 1024;
/// What one held event costs besides its text (the event, the string's
/// header and the allocator's rounding), so that many tiny events count.
pub const EVENT_OVERHEAD: usize = 64;

/// A whole-document recording: asciicast v1 or KoKo's old JSON replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: DocumentKind,
    pub size: Option<(u64, u64)>,
    pub events: Vec<Event>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    V1,
    KokoJson,
}

/// Reads a whole-document recording from `input` (already unsealed and
/// decompressed), streaming.
pub fn read_document(input: impl Read, file: &str) -> Result<Document, TermError> {
    let format = |cause: String| TermError::Format { file: file.to_string(), cause };
    let guarded = BufReader::with_capacity(64 * 1024, StringGuard::new(input));
    let mut de = serde_json::Deserializer::from_reader(guarded);
    let mut seen = Seen::default();
    let parsed = de::Deserializer::deserialize_any(&mut de, Top { seen: &mut seen });
    let parsed = parsed.and_then(|()| de.end());
    if let Err(e) = parsed {
        let cause = match e.io_error_kind() {
            Some(_) => format!("the replay cannot be read: {e}"),
            None => format!("not an asciicast or JSON replay: {e}"),
        };
        return Err(format(cause));
    }
    seen.into_document().map_err(|cause| format(cause.to_string()))
}

/// Everything the top-level object said, whichever format it turns out to be.
#[derive(Default)]
struct Seen {
    version: Option<u64>,
    width: u64,
    height: u64,
    /// v1's `stdout`, in order; `None` when there was none.
    stdout: Option<Vec<Event>>,
    /// KoKo's `"<seconds>": "<data>"` entries.
    entries: Vec<Event>,
    /// Keys that were neither.
    odd_keys: Vec<String>,
    warnings: Vec<String>,
    held: usize,
}

impl Seen {
    fn hold(&mut self, text: &str) -> Result<(), String> {
        self.held += text.len() + EVENT_OVERHEAD;
        if self.held > MAX_HELD {
            return Err(format!(
                "a JSON replay whose events take over {MAX_HELD} bytes is refused (they are held to be sorted)"
            ));
        }
        Ok(())
    }

    fn into_document(self) -> Result<Document, &'static str> {
        if self.version == Some(1) {
            let events = self.stdout.ok_or("an asciicast v1 without 'stdout' frames")?;
            let size = (self.width > 0 && self.height > 0).then_some((self.width, self.height));
            return Ok(Document { kind: DocumentKind::V1, size, events, warnings: self.warnings });
        }
        let mut warnings = self.warnings;
        for key in &self.odd_keys {
            warnings.push(format!("entry '{}' is not \"<seconds>\": \"<data>\"; skipped", truncate(key)));
        }
        let mut events = self.entries;
        if events.is_empty() && !warnings.is_empty() {
            return Err("a JSON object that is neither asciicast v1 nor a KoKo replay");
        }
        // Stable: entries of one time keep the document's order.
        events.sort_by_key(|e| e.ms);
        Ok(Document { kind: DocumentKind::KokoJson, size: None, events, warnings })
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The top-level object.
struct Top<'a> {
    seen: &'a mut Seen,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object (asciicast v1 or a KoKo replay)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => self.seen.version = map.next_value::<Scalar>()?.count(),
                "width" => self.seen.width = map.next_value::<Scalar>()?.count().unwrap_or(0),
                "height" => self.seen.height = map.next_value::<Scalar>()?.count().unwrap_or(0),
                "stdout" => map.next_value_seed(Frames { seen: self.seen })?,
                _ => {
                    // KoKo's `"<seconds>": "<data>"`; anything else is odd.
                    let ms = key.trim().parse::<f64>().ok().and_then(seconds_to_ms);
                    match (map.next_value::<Scalar>()?, ms) {
                        (Scalar::Text(text), Some(ms)) => {
                            self.seen.hold(&text).map_err(de::Error::custom)?;
                            self.seen.entries.push(Event { ms, kind: EventKind::Output(text) });
                        }
                        _ => self.seen.odd_keys.push(key),
                    }
                }
            }
        }
        Ok(())
    }
}

/// v1's `stdout` array, read frame by frame.
struct Frames<'a> {
    seen: &'a mut Seen,
}

impl<'de> DeserializeSeed<'de> for Frames<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Frames<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [delay, data] frames")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut events = Vec::new();
        let mut seconds = 0.0f64;
        let mut i = 0usize;
        while let Some(frame) = seq.next_element::<Frame>()? {
            let Frame::Pair(delay, text) = frame else {
                self.seen.warnings.push(format!("stdout frame {i} is not [delay, data]; skipped"));
                i += 1;
                continue;
            };
            if delay.is_finite() && delay >= 0.0 {
                seconds += delay;
            }
            match seconds_to_ms(seconds) {
                Some(ms) => {
                    self.seen.hold(&text).map_err(de::Error::custom)?;
                    events.push(Event { ms, kind: EventKind::Output(text) });
                }
                None => self
                    .seen
                    .warnings
                    .push(format!("stdout frame {i}: time {seconds} is not usable; skipped")),
            }
            i += 1;
        }
        self.seen.stdout = Some(events);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(()) // not frames: the document is no v1 (told at the end)
    }
}

/// One element of `stdout`: `[delay, "data"]`, or something else.
enum Frame {
    Pair(f64, String),
    Other,
}

impl<'de> serde::Deserialize<'de> for Frame {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Frame, D::Error> {
        let frame = match Scalar::deserialize(d)? {
            Scalar::Pair(delay, text) => Frame::Pair(delay, text),
            _ => Frame::Other,
        };
        Ok(frame)
    }
}

/// A value read without building a tree: a number, a string, a
/// `[number, string]` pair, or something else (drained, not kept).
enum Scalar {
    Number(f64, Option<u64>),
    Text(String),
    Pair(f64, String),
    Other,
}

impl Scalar {
    /// A non-negative integer, if this is one.
    fn count(&self) -> Option<u64> {
        match self {
            Scalar::Number(_, n) => *n,
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor { pairs: true })
    }
}

/// Reads a [`Scalar`]; `pairs: false` does not look inside lists at all.
struct ScalarVisitor {
    pairs: bool,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64, Some(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64, u64::try_from(v).ok()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v, None))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        if !self.pairs {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Scalar::Other);
        }
        // Only a pair's two elements are kept, and only when they are
        // scalars: nested lists are drained.
        let first = seq.next_element::<Flat>()?;
        let second = seq.next_element::<Flat>()?;
        let mut extra = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra = true;
        }
        Ok(match (first, second, extra) {
            (Some(Flat(Scalar::Number(d, _))), Some(Flat(Scalar::Text(t))), false) => Scalar::Pair(d, t),
            _ => Scalar::Other,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// A [`Scalar`] that does not look inside lists (they are drained).
struct Flat(Scalar);

impl<'de> serde::Deserialize<'de> for Flat {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Flat, D::Error> {
        Ok(Flat(d.deserialize_any(ScalarVisitor { pairs: false })?))
    }
}

/// Refuses a JSON string longer than [`MAX_STRING`] bytes on the raw
/// input, before the parser would buffer it whole. It only follows quotes
/// and escapes; everything else is the parser's to judge.
struct StringGuard<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    run: usize,
    offset: u64,
}

impl<R> StringGuard<R> {
    fn new(inner: R) -> StringGuard<R> {
        StringGuard { inner, in_string: false, escaped: false, run: 0, offset: 0 }
    }
}

impl<R: Read> Read for StringGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.offset += 1;
            if !self.in_string {
                self.in_string = b == b'"';
                self.run = 0;
                continue;
            }
            self.run += 1;
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            if self.run > MAX_STRING {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a string over {MAX_STRING} bytes at byte {}; refused", self.offset),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_koko_old_json() {
        let v1 = r#"{"version":1,"width":90,"height":20,"duration":1.5,"stdout":[[0.5,"a"],[1.0,"b"]]}"#;
        let doc = read_document(v1.as_bytes(), "v1.json").unwrap();
        assert_eq!(doc.kind, DocumentKind::V1);
        assert_eq!(doc.size, Some((90, 20)));
        assert_eq!(doc.events.iter().map(|e| e.ms).collect::<Vec<_>>(), vec![500, 1500]);
        let old = r#"{"1.25":"b","0.5":"a","x":"bad"}"#;
        let doc = read_document(old.as_bytes(), "old.replay").unwrap();
        assert_eq!(doc.kind, DocumentKind::KokoJson);
        assert_eq!(
            doc.events,
            vec![
                Event { ms: 500, kind: EventKind::Output("a".into()) },
                Event { ms: 1250, kind: EventKind::Output("b".into()) },
            ]
        );
        assert_eq!(doc.warnings.len(), 1);
    }

    #[test]
    fn v1_keys_in_any_order_and_odd_frames() {
        let v1 =
            r#"{"stdout":[[0.5,"a"],"junk",[1,2],[0.25,"b",3],[1.0,"c"]],"env":{"TERM":"x"},"version":1}"#;
        let doc = read_document(v1.as_bytes(), "v1.json").unwrap();
        assert_eq!(doc.kind, DocumentKind::V1);
        let texts: Vec<_> = doc.events.iter().map(|e| (e.ms, e.kind.clone())).collect();
        assert_eq!(texts, vec![(500, EventKind::Output("a".into())), (1500, EventKind::Output("c".into()))]);
        assert_eq!(doc.warnings.len(), 3, "{:?}", doc.warnings);
    }

    #[test]
    fn a_huge_string_is_refused_without_being_held() {
        // One string a little over the limit, fed lazily: the guard stops it.
        let head = std::io::Cursor::new(b"{\"1.0\":\"".to_vec());
        let body = std::io::repeat(b'a').take(MAX_STRING as u64 + 10);
        let e = read_document(head.chain(body).chain(&b"\"}"[..]), "big.replay").unwrap_err();
        assert!(e.to_string().contains("big.replay") && e.to_string().contains("16777216"), "{e}");
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string_early() {
        let doc = read_document(&br#"{"0.5":"say \"hi\" \\","1":"x"}"#[..], "q.replay").unwrap();
        assert_eq!(doc.events[0].kind, EventKind::Output("say \"hi\" \\".into()));
    }

    #[test]
    fn not_json_is_a_format_error() {
        for bad in [&b"[1,2]"[..], b"{\"a\":", b"nope", b"{\"x\":1,\"y\":2}"] {
            assert!(matches!(read_document(bad, "bad.json"), Err(TermError::Format { .. })), "{:?}", bad);
        }
    }
}

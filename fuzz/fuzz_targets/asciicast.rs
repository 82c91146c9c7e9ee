//! Reading arbitrary terminal recordings must never panic: the asciicast
//! stream reader (v2/v3, after whatever header line the input has), the
//! whole-document reader (v1, KoKo's old JSON) and the typescript reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::terminal::asciicast::{CastEvents, Version, parse_header, read_document};
use video_worker::terminal::lines::{Line, Lines};
use video_worker::terminal::typescript::TypescriptEvents;

fuzz_target!(|data: &[u8]| {
    let mut lines = Lines::new(data);
    let version = match lines.next() {
        Some(Line::Text { bytes, .. }) => parse_header(&bytes).map_or(Version::V2, |h| h.version),
        _ => Version::V2,
    };
    for _ in CastEvents::new(lines, version, "fuzz.cast") {}
    let _ = read_document(data, "fuzz.json");
    // The input split in two: a data file and a timing file.
    let (a, b) = data.split_at(data.len() / 2);
    for _ in TypescriptEvents::new(a, b) {}
});

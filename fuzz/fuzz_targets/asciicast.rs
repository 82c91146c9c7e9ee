//! Reading arbitrary asciicast streams (v2/v3, after whatever header line
//! the input has) must never panic, and memory stays bounded by the line
//! limit whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::terminal::asciicast::{CastEvents, Version, parse_header};
use video_worker::terminal::lines::{Line, Lines};

fuzz_target!(|data: &[u8]| {
    let mut lines = Lines::new(data);
    let version = match lines.next() {
        Some(Line::Text { bytes, .. }) => parse_header(&bytes).map_or(Version::V2, |h| h.version),
        _ => Version::V2,
    };
    for _ in CastEvents::new(lines, version, "fuzz.cast") {}
});

//! The whole-document formats (asciicast v1, KoKo's old JSON) read from
//! arbitrary bytes: never a panic, and what is accepted is well formed
//! (events in time order, every event's text within the string limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::terminal::EventKind;
use video_worker::terminal::document::{MAX_STRING, read_document};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = read_document(data, "fuzz.json") else { return };
    assert!(doc.events.windows(2).all(|w| w[0].ms <= w[1].ms), "events out of order");
    for e in &doc.events {
        if let EventKind::Output(text) = &e.kind {
            assert!(text.len() <= MAX_STRING, "a string over the limit was kept");
        }
    }
});

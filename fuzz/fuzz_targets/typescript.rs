//! A typescript read from arbitrary bytes: the data file is what comes
//! before the first NUL byte, the timing file what follows. Never a panic;
//! no event is later than a year, and no more text comes out than the
//! data file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::terminal::typescript::TypescriptEvents;
use video_worker::terminal::{EventKind, Item, MAX_TIME_MS};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (typescript, timing) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let mut shown = 0usize;
    for item in TypescriptEvents::new(typescript, timing) {
        if let Item::Event(e) = item {
            assert!((0..=MAX_TIME_MS).contains(&e.ms), "time {}", e.ms);
            if let EventKind::Output(text) = e.kind {
                shown += text.chars().count();
            }
        }
    }
    // Each shown character comes from at least one byte (a bad byte from one: U+FFFD).
    assert!(shown <= typescript.len(), "{shown} characters from {} bytes", typescript.len());
});

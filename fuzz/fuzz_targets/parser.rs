//! The recording parser must never panic, loop or misreport offsets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::guac::{Event, Instruction, Parser};

fuzz_target!(|data: &[u8]| {
    let mut parser = Parser::new(data);
    let mut last = 0u64;
    while let Some(event) = parser.next_event() {
        let offset = match &event {
            Event::Instruction(raw) => {
                let _ = Instruction::from_raw(raw);
                raw.offset
            }
            Event::Issue(issue) => issue.offset,
        };
        assert!(offset <= data.len() as u64);
        assert!(offset >= last, "offsets only move forward");
        last = offset;
    }
});

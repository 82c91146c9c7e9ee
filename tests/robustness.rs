//! Arbitrary input never panics or hangs: property tests over random bytes
//! and over mutations of a valid recording.

mod common;

use proptest::prelude::*;
use video_worker::guac::{Event, Parser};
use video_worker::snapshot::snapshot_files;

fn valid_recording() -> Vec<u8> {
    let png = common::solid_image(4, 4, [255, 0, 0, 255], image::ImageFormat::Png);
    common::Rec::new()
        .size(0, 32, 24)
        .fill(0, 0, 0, 32, 24, [0, 0, 255, 255])
        .img(1, 14, 0, "image/png", 2, 2, &png)
        .sync(100)
        .size(1, 8, 8)
        .op("move", &[&1, &0, &4, &4, &1])
        .copy(0, 0, 0, 8, 8, 14, -1, 0, 0)
        .mouse(5, 5, 150)
        .sync(200)
        .bytes()
}

/// Plays bytes as a recording; any outcome but a panic is fine.
fn play(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.guac");
    std::fs::write(&path, bytes).unwrap();
    let _ = snapshot_files(&[path], 1_000_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut parser = Parser::new(bytes.as_slice());
        let mut events = 0usize;
        while let Some(event) = parser.next_event() {
            if let Event::Instruction(i) = &event {
                prop_assert!(i.offset <= bytes.len() as u64);
            }
            events += 1;
            prop_assert!(events <= bytes.len() + 1, "the parser must make progress");
        }
    }

    #[test]
    fn player_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        play(&bytes);
    }

    #[test]
    fn player_survives_mutated_recordings(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_recording();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        play(&bytes);
    }
}

//! Rendering arbitrary recordings must never panic; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("vw-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.guac");
    if std::fs::write(&path, data).is_ok() {
        let _ = video_worker::snapshot::snapshot_files(&[path], i64::MAX / 4);
    }
});

//! Core's `<sid>.tar` download unpacked from arbitrary bytes: never a
//! panic, and nothing is written anywhere but the unpack directory, under
//! plain names, within the size limit.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use video_worker::guac::limits::InputLimits;
use video_worker::playback::download::unpack;

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let n = RUN.fetch_add(1, Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("vw-fuzz-download-{}-{n}", std::process::id()));
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tar = root.join("s1.tar");
    std::fs::write(&tar, data).unwrap();
    let limits = InputLimits { max_bytes: 1 << 20, max_ratio: 500 };
    if let Ok(members) = unpack(&tar, &out, None, limits) {
        let mut total = 0;
        for name in &members {
            assert!(!name.contains(['/', '\\']) && name != ".." && name != ".", "{name:?}");
            total += std::fs::metadata(out.join(name)).map(|m| m.len()).unwrap_or(0);
        }
        assert!(total <= limits.max_bytes, "{total} bytes unpacked");
    }
    let beside: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(beside.len(), 2, "nothing written beside the unpack directory: {beside:?}");
    std::fs::remove_dir_all(&root).unwrap();
});

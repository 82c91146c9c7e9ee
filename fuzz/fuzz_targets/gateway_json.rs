//! The gateway's task announcement (`POST /api/v2/replay/sessions/<sid>/task/`
//! JSON): any bytes either parse into a request whose part names are plain
//! identifiers, or are refused; the index rewritten from an accepted one
//! names every part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::ids::is_safe_id;
use video_worker::jumpserver::replay_meta::CreateRequest;
use video_worker::pipeline::gateway_job::{PartVideo, part_mp4_name, rewrite};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = CreateRequest::parse("s1", data, 64) else { return };
    assert!(!request.files.is_empty() && request.files.len() <= 64);
    let names: Vec<String> = request
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            assert!(is_safe_id(&f.name), "{:?}", f.name);
            assert!(f.checksum.as_ref().is_none_or(|c| c.len() == 64));
            part_mp4_name("s1", i, &f.name)
        })
        .collect();
    for n in &names {
        assert!(!n.contains(['/', '\\', '\0']), "{n:?}");
        assert!(n.ends_with(".part.mp4"));
    }
    let videos: Vec<PartVideo<'_>> =
        names.iter().map(|n| PartVideo { name: n, size: 1, duration_ms: 5, checksum: "" }).collect();
    let index = rewrite(&request.meta, &videos);
    assert_eq!(index["files"].as_array().map(Vec::len), Some(names.len()));
});

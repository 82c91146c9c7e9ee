//! The legacy gateway form's text fields (`width`, `height`, `bitrate`,
//! `max_frame`, `session_date`, ...), as `name=value` lines: any field set is
//! read without panicking, and only a plain `YYYY-MM-DD` counts as a date
//! (it becomes part of a storage key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use video_worker::jumpserver::replay_meta::{TaskConfig, is_plain_date, session_date};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = serde_json::Map::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        fields.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        if is_plain_date(v) {
            assert_eq!(v.len(), 10);
            assert!(v.bytes().all(|b| b.is_ascii_digit() || b == b'-'), "{v:?}");
        }
        if let Some(d) = session_date(v) {
            assert!(is_plain_date(&d), "{d:?}");
        }
    }
    let _ = TaskConfig::parse(&serde_json::Value::Object(fields));
});

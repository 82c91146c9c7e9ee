//! What a gateway says about a recording: the P2 create body (`config` and
//! the replay `meta` with its `files[]`), the legacy P1 form fields, and the
//! rewritten `<sid>.replay.json` that names the MP4s.
//!
//! Lion's Go SDK sends `config` with Go field names (`MaxFrame`, `Width`,
//! ...) because its struct has only `form` tags; other clients may send
//! snake case. Keys are therefore matched without regard to case or `_`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::is_safe_id;

/// The encoding hints a gateway sends. The worker records them; the video
/// keeps the recording's own size (see docs/jumpserver.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub max_frame: u32,
    pub width: u32,
    pub height: u32,
    pub bitrate: u32,
}

impl TaskConfig {
    pub fn parse(config: &Value) -> TaskConfig {
        let mut c = TaskConfig::default();
        let Some(map) = config.as_object() else {
            return c;
        };
        for (key, value) in map {
            let n = number(value);
            match key.to_ascii_lowercase().replace('_', "").as_str() {
                "maxframe" => c.max_frame = n,
                "width" => c.width = n,
                "height" => c.height = n,
                "bitrate" => c.bitrate = n,
                _ => {}
            }
        }
        c
    }
}

/// A non-negative integer from a JSON number or numeric string; 0 otherwise.
fn number(v: &Value) -> u32 {
    match v {
        Value::Number(n) => n.as_u64().map_or(0, |n| n.min(u32::MAX as u64) as u32),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// One entry of `meta.files[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartFile {
    pub name: String,
    pub start: i64,
    pub checksum: Option<String>,
}

/// A validated P2 create request.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub config: TaskConfig,
    /// The meta exactly as received (rewritten later for the MP4s).
    pub meta: Value,
    pub files: Vec<PartFile>,
    /// `YYYY-MM-DD` of the session start (UTC), for storage keys.
    pub session_date: Option<String>,
}

impl CreateRequest {
    /// Parses and checks an announcement of at most `max_parts` parts.
    pub fn parse(session_id: &str, body: &[u8], max_parts: usize) -> Result<CreateRequest, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let meta = value.get("meta").cloned().ok_or("the body has no \"meta\"")?;
        if !meta.is_object() {
            return Err("\"meta\" must be an object".into());
        }
        match meta.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id != session_id => {
                return Err(format!("meta.id {id:?} is not the session {session_id:?} of the path"));
            }
            _ => {}
        }
        let files = parse_files(&meta, max_parts)?;
        let session_date = meta.get("date_start").and_then(Value::as_str).and_then(session_date);
        let config = TaskConfig::parse(value.get("config").unwrap_or(&Value::Null));
        Ok(CreateRequest { config, meta, files, session_date })
    }
}

/// `meta.files[]`, each with a usable name and, when given, a SHA-256 checksum.
pub fn parse_files(meta: &Value, max_parts: usize) -> Result<Vec<PartFile>, String> {
    let list = meta.get("files").and_then(Value::as_array).ok_or("meta.files must be a list")?;
    if list.is_empty() || list.len() > max_parts {
        return Err(format!(
            "meta.files must list 1 to {max_parts} parts (MAX_PARTS_PER_TASK), not {}",
            list.len()
        ));
    }
    list.iter().enumerate().map(|(i, f)| part_file(i, f)).collect()
}

fn part_file(i: usize, f: &Value) -> Result<PartFile, String> {
    let name = f.get("name").and_then(Value::as_str).unwrap_or("");
    if !is_safe_id(name) {
        return Err(format!("meta.files[{i}].name {name:?} is not a plain file name"));
    }
    let checksum = match f.get("checksum").and_then(Value::as_str) {
        None | Some("") => None,
        Some(c) if c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()) => Some(c.to_ascii_lowercase()),
        Some(_) => return Err(format!("meta.files[{i}].checksum is not a SHA-256 in hex")),
    };
    Ok(PartFile {
        name: name.to_string(),
        start: f.get("start").and_then(Value::as_i64).unwrap_or(0),
        checksum,
    })
}

/// `YYYY-MM-DD` (UTC) of a gateway date (`2006-01-02 15:04:05 -0700`), as
/// core files replays by `date_start` in UTC.
pub fn session_date(text: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S %z").ok()?;
    let date = t.with_timezone(&chrono::Utc).format("%Y-%m-%d").to_string();
    // Years outside 0000-9999 format with a sign or more digits: not a key.
    is_plain_date(&date).then_some(date)
}

/// Whether a legacy `session_date` field is a plain `YYYY-MM-DD`.
pub fn is_plain_date(text: &str) -> bool {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    // chrono's %Y alone would also take "+2024-01-01" or longer years.
    shape && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// The MP4 of part `index`: `<sid>.<n>.part.gz` becomes `<sid>.<n>.part.mp4`.
pub fn part_mp4_name(session_id: &str, index: usize, part_name: &str) -> String {
    match part_name.strip_suffix(".part.gz").or_else(|| part_name.strip_suffix(".part")) {
        Some(stem) => format!("{stem}.part.mp4"),
        None => format!("{session_id}.{index}.part.mp4"),
    }
}

/// The finished MP4 of one part, for the rewritten index.
pub struct PartVideo<'a> {
    pub name: &'a str,
    pub size: u64,
    pub duration_ms: i64,
    pub checksum: &'a str,
}

/// The gateway's meta with `files[]` naming the MP4s: their real size and
/// duration (the span of each video), `end = start + duration`, and the
/// SHA-256 of the MP4. Every other field is kept as the gateway sent it.
pub fn rewrite(meta: &Value, videos: &[PartVideo<'_>]) -> Value {
    let mut out = meta.clone();
    let originals = meta.get("files").and_then(Value::as_array).cloned().unwrap_or_default();
    let files: Vec<Value> = videos
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let start = originals.get(i).and_then(|f| f.get("start")).and_then(Value::as_i64).unwrap_or(0);
            json!({
                "name": v.name,
                "start": start,
                "end": start + v.duration_ms,
                "duration": v.duration_ms,
                "size": v.size,
                "checksum": v.checksum,
            })
        })
        .collect();
    out["files"] = Value::Array(files);
    out
}

#[cfg(test)]
impl CreateRequest {
    fn parse_test(session_id: &str, body: &[u8]) -> Result<CreateRequest, String> {
        CreateRequest::parse(session_id, body, 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(config: Value) -> Vec<u8> {
        json!({"config": config, "meta": {"id": "s1", "date_start": "2025-11-13 23:30:00 -0100",
            "type": "guacamole", "files": [
                {"name": "s1.0.part.gz", "start": 1000, "end": 5000, "duration": 4000, "size": 10,
                 "checksum": "AB".repeat(32)},
                {"name": "s1.1.part.gz", "start": 5000, "end": 6000, "duration": 1000, "size": 5}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn go_field_names_and_snake_case_both_parse() {
        let go = CreateRequest::parse_test(
            "s1",
            &body(json!({"MaxFrame": 0, "Width": 1920, "Height": 1080, "Bitrate": 1})),
        );
        let snake = CreateRequest::parse_test(
            "s1",
            &body(json!({"max_frame": 0, "width": "1920", "height": 1080, "bitrate": 1})),
        );
        let want = TaskConfig { max_frame: 0, width: 1920, height: 1080, bitrate: 1 };
        assert_eq!(go.unwrap().config, want);
        assert_eq!(snake.unwrap().config, want);
    }

    #[test]
    fn files_dates_and_checksums_are_read() {
        let r = CreateRequest::parse_test("s1", &body(json!({"Width": 0, "Height": 0}))).unwrap();
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files[0].checksum.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(r.files[1].checksum, None);
        assert_eq!(r.session_date.as_deref(), Some("2025-11-14"), "23:30 at -01:00 is the next day in UTC");
    }

    #[test]
    fn bad_requests_say_why() {
        let bad = |v: Value| CreateRequest::parse_test("s1", v.to_string().as_bytes()).unwrap_err();
        assert!(bad(json!({"config": {}})).contains("meta"));
        assert!(bad(json!({"meta": {"id": "other", "files": [{"name": "a"}]}})).contains("not the session"));
        assert!(bad(json!({"meta": {"files": []}})).contains("1 to"));
        let many: Vec<Value> = (0..3).map(|i| json!({"name": format!("p{i}")})).collect();
        let three = json!({"meta": {"files": many}}).to_string();
        assert!(CreateRequest::parse("s1", three.as_bytes(), 2).unwrap_err().contains("MAX_PARTS_PER_TASK"));
        assert!(bad(json!({"meta": {"files": [{"name": "../x"}]}})).contains("plain file name"));
        assert!(bad(json!({"meta": {"files": [{"name": "a", "checksum": "xyz"}]}})).contains("SHA-256"));
        assert!(CreateRequest::parse_test("s1", b"not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn part_names_become_mp4_names() {
        assert_eq!(part_mp4_name("s1", 3, "s1.3.part.gz"), "s1.3.part.mp4");
        assert_eq!(part_mp4_name("s1", 0, "s1.0.part"), "s1.0.part.mp4");
        assert_eq!(part_mp4_name("s1", 2, "weird.bin"), "s1.2.part.mp4");
    }

    #[test]
    fn rewrite_names_the_mp4s_with_their_sizes_and_spans() {
        let r = CreateRequest::parse_test("s1", &body(json!({}))).unwrap();
        let videos = [
            PartVideo { name: "s1.0.part.mp4", size: 700, duration_ms: 3990, checksum: "c0" },
            PartVideo { name: "s1.1.part.mp4", size: 300, duration_ms: 1000, checksum: "c1" },
        ];
        let out = rewrite(&r.meta, &videos);
        assert_eq!(out["type"], "guacamole");
        assert_eq!(
            out["files"][0],
            json!({"name": "s1.0.part.mp4", "start": 1000, "end": 4990,
            "duration": 3990, "size": 700, "checksum": "c0"})
        );
        assert_eq!(out["files"][1]["start"], 5000);
    }

    #[test]
    fn legacy_dates_are_plain() {
        assert!(is_plain_date("2024-05-01"));
        assert!(!is_plain_date("2024-5-1"));
        assert!(!is_plain_date("../../etc"));
        assert!(!is_plain_date("+024-01-01"), "found by fuzzing: chrono takes a sign");
        assert!(!is_plain_date("2024-02-30"));
        assert_eq!(session_date("99999-01-01 00:00:00 +0000"), None);
    }
}

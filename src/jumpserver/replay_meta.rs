//! Parsing what a gateway says about a recording: the P2 create body
//! (`config` and the replay `meta` with its `files[]`) and the legacy P1
//! form's dates. The task shape it becomes is `pipeline::gateway_job`.

use serde_json::Value;

pub use crate::pipeline::gateway_job::{PartFile, TaskConfig, parse_files};

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

#[cfg(test)]
impl CreateRequest {
    fn parse_test(session_id: &str, body: &[u8]) -> Result<CreateRequest, String> {
        CreateRequest::parse(session_id, body, 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn legacy_dates_are_plain() {
        assert!(is_plain_date("2024-05-01"));
        assert!(!is_plain_date("2024-5-1"));
        assert!(!is_plain_date("../../etc"));
        assert!(!is_plain_date("+024-01-01"), "found by fuzzing: chrono takes a sign");
        assert!(!is_plain_date("2024-02-30"));
        assert_eq!(session_date("99999-01-01 00:00:00 +0000"), None);
    }
}

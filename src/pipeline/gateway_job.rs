//! What a gateway task is besides its recording: the protocol it came by,
//! the encoding hints and the replay `meta` (with its `files[]`) it
//! announced, and how the finished MP4s are named in the rewritten
//! `<sid>.replay.json`. Pure data and functions on it: the pipeline plans a
//! gateway task from this, and `jumpserver::replay_meta` parses what
//! gateways send into it (built without the `service` feature, for fuzzing).
//!
//! Lion's Go SDK sends `config` with Go field names (`MaxFrame`, `Width`,
//! ...) because its struct has only `form` tags; other clients may send
//! snake case. Keys are therefore matched without regard to case or `_`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::is_safe_id;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum GatewayJob {
    /// The current protocol: parts announced in `meta.files[]`, uploaded one
    /// by one; one MP4 per part plus a rewritten `<sid>.replay.json`.
    Parts { config: TaskConfig, meta: Value },
    /// The legacy protocol: one recording in one form; one `<sid>.replay.mp4`.
    Legacy { fields: BTreeMap<String, String> },
}

impl GatewayJob {
    /// The parts a `Parts` job announced (empty for legacy).
    pub fn files(&self) -> Vec<PartFile> {
        match self {
            // Whatever was accepted at creation, without a new limit.
            GatewayJob::Parts { meta, .. } => parse_files(meta, usize::MAX).unwrap_or_default(),
            GatewayJob::Legacy { .. } => Vec::new(),
        }
    }
}

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
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_json() {
        let meta = json!({"id": "s1", "files": [{"name": "s1.0.part.gz"}]});
        let job = GatewayJob::Parts { config: TaskConfig::default(), meta };
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["protocol"], "parts");
        let back: GatewayJob = serde_json::from_value(v).unwrap();
        assert_eq!(back, job);
        assert_eq!(back.files()[0].name, "s1.0.part.gz");
        let legacy = GatewayJob::Legacy { fields: [("file_type".to_string(), ".gz".to_string())].into() };
        assert_eq!(serde_json::to_value(&legacy).unwrap()["protocol"], "legacy");
    }

    #[test]
    fn part_names_become_mp4_names() {
        assert_eq!(part_mp4_name("s1", 3, "s1.3.part.gz"), "s1.3.part.mp4");
        assert_eq!(part_mp4_name("s1", 0, "s1.0.part"), "s1.0.part.mp4");
        assert_eq!(part_mp4_name("s1", 2, "weird.bin"), "s1.2.part.mp4");
    }

    #[test]
    fn rewrite_names_the_mp4s_with_their_sizes_and_spans() {
        let meta = json!({"id": "s1", "type": "guacamole", "files": [
            {"name": "s1.0.part.gz", "start": 1000, "end": 5000, "duration": 4000, "size": 10},
            {"name": "s1.1.part.gz", "start": 5000, "end": 6000, "duration": 1000, "size": 5}]});
        let videos = [
            PartVideo { name: "s1.0.part.mp4", size: 700, duration_ms: 3990, checksum: "c0" },
            PartVideo { name: "s1.1.part.mp4", size: 300, duration_ms: 1000, checksum: "c1" },
        ];
        let out = rewrite(&meta, &videos);
        assert_eq!(out["type"], "guacamole");
        assert_eq!(
            out["files"][0],
            json!({"name": "s1.0.part.mp4", "start": 1000, "end": 4990,
            "duration": 3990, "size": 700, "checksum": "c0"})
        );
        assert_eq!(out["files"][1]["start"], 5000);
    }
}

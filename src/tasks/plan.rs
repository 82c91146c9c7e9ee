//! What a task produces, by where it came from:
//! - a standalone upload: all parts in one `<sid>.mp4` at `YYYY-MM-DD/<sid>/`;
//! - a gateway's parts (current protocol): one `<sid>.<n>.part.mp4` per part
//!   (each part was recorded through its own guacd connection and plays on
//!   its own), then `<sid>.replay.json` naming them, all at `YYYY-MM-DD/<sid>/`;
//! - a gateway's legacy upload: `<sid>.replay.mp4` at `YYYY-MM-DD/`.
//!
//! And, when a gateway's recording cannot be converted at all, the originals
//! as the gateway itself would have stored them, so the session stays
//! replayable.

use std::path::{Path, PathBuf};

use crate::jumpserver::gateway_job::GatewayJob;
use crate::jumpserver::replay_meta::part_mp4_name;
use crate::tasks::model::Task;
use crate::tasks::parts::part_path;

/// One video to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    pub name: String,
    pub key: String,
    pub inputs: Vec<PathBuf>,
}

/// Everything a task makes: the videos, then (current protocol) the index
/// that names them, which is stored last so it never points at a missing file.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub videos: Vec<Video>,
    pub index: Option<Index>,
}

/// The rewritten `<sid>.replay.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub key: String,
    pub meta: serde_json::Value,
}

/// The received parts of a task, in order.
pub fn input_parts(input: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "guac"))
        .collect();
    parts.sort();
    Ok(parts)
}

pub fn plan(task: &Task, input: &Path) -> std::io::Result<Plan> {
    let (sid, date) = (&task.session_id, &task.session_date);
    let job = GatewayJob::of(task);
    match &job {
        Some(j @ GatewayJob::Parts { meta, .. }) => {
            let files = j.files();
            let videos = files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = part_mp4_name(sid, i, &f.name);
                    Video { key: format!("{date}/{sid}/{name}"), name, inputs: vec![part_path(input, i)] }
                })
                .collect();
            let name = format!("{sid}.replay.json");
            let index = Index { key: format!("{date}/{sid}/{name}"), name, meta: meta.clone() };
            Ok(Plan { videos, index: Some(index) })
        }
        Some(GatewayJob::Legacy { .. }) => {
            let name = format!("{sid}.replay.mp4");
            let video = Video { key: format!("{date}/{name}"), name, inputs: input_parts(input)? };
            Ok(Plan { videos: vec![video], index: None })
        }
        None => {
            let name = format!("{sid}.mp4");
            let video = Video { key: format!("{date}/{sid}/{name}"), name, inputs: input_parts(input)? };
            Ok(Plan { videos: vec![video], index: None })
        }
    }
}

/// One original file to store instead of a video.
#[derive(Debug, Clone, PartialEq)]
pub struct Original {
    pub name: String,
    pub key: String,
    pub source: PathBuf,
    /// Gzip it first (a legacy recording that came uncompressed).
    pub gzip: bool,
}

/// What the gateway would have stored itself: its `.part.gz` files and its
/// own `<sid>.replay.json` (current protocol), or `<sid>.replay.gz` (legacy).
/// `None` for standalone tasks, which have no such fallback.
pub fn originals(task: &Task, input: &Path) -> std::io::Result<Option<(Vec<Original>, Option<Index>)>> {
    let (sid, date) = (&task.session_id, &task.session_date);
    let job = GatewayJob::of(task);
    match &job {
        Some(j @ GatewayJob::Parts { meta, .. }) => {
            let files = j.files();
            let list = files
                .iter()
                .enumerate()
                .map(|(i, f)| Original {
                    key: format!("{date}/{sid}/{}", f.name),
                    name: f.name.clone(),
                    source: part_path(input, i),
                    gzip: false,
                })
                .collect();
            let name = format!("{sid}.replay.json");
            let index = Index { key: format!("{date}/{sid}/{name}"), name, meta: meta.clone() };
            Ok(Some((list, Some(index))))
        }
        Some(GatewayJob::Legacy { .. }) => {
            let source = input_parts(input)?.into_iter().next().unwrap_or_else(|| input.join("0000.guac"));
            let gzip = !crate::guac::input::is_gzip_file(&source)?;
            let name = format!("{sid}.replay.gz");
            Ok(Some((vec![Original { key: format!("{date}/{name}"), name, source, gzip }], None)))
        }
        None => Ok(None),
    }
}

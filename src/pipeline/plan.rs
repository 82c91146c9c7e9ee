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

use std::path::PathBuf;

use super::gateway_job::{GatewayJob, part_mp4_name};
use super::model::{Origin, Task};
use super::task_dir::TaskDir;

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

pub fn plan(task: &Task, dir: &TaskDir) -> std::io::Result<Plan> {
    let (sid, date) = (&task.session_id, &task.session_date);
    match &task.origin {
        Origin::Gateway { job: j @ GatewayJob::Parts { meta, .. } } => {
            let files = j.files();
            let videos = files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = part_mp4_name(sid, i, &f.name);
                    Video { key: format!("{date}/{sid}/{name}"), name, inputs: vec![dir.part(i)] }
                })
                .collect();
            let name = format!("{sid}.replay.json");
            let index = Index { key: format!("{date}/{sid}/{name}"), name, meta: meta.clone() };
            Ok(Plan { videos, index: Some(index) })
        }
        Origin::Gateway { job: GatewayJob::Legacy { .. } } => {
            let name = format!("{sid}.replay.mp4");
            let video = Video { key: format!("{date}/{name}"), name, inputs: dir.parts()? };
            Ok(Plan { videos: vec![video], index: None })
        }
        Origin::Api | Origin::Inbox { .. } => {
            let name = format!("{sid}.mp4");
            let video = Video { key: format!("{date}/{sid}/{name}"), name, inputs: dir.parts()? };
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
/// `is_gzip` tells whether a stored part is already gzip (after unsealing).
pub fn originals(
    task: &Task,
    dir: &TaskDir,
    is_gzip: impl Fn(&std::path::Path) -> std::io::Result<bool>,
) -> std::io::Result<Option<(Vec<Original>, Option<Index>)>> {
    let (sid, date) = (&task.session_id, &task.session_date);
    match &task.origin {
        Origin::Gateway { job: j @ GatewayJob::Parts { meta, .. } } => {
            let files = j.files();
            let list = files
                .iter()
                .enumerate()
                .map(|(i, f)| Original {
                    key: format!("{date}/{sid}/{}", f.name),
                    name: f.name.clone(),
                    source: dir.part(i),
                    gzip: false,
                })
                .collect();
            let name = format!("{sid}.replay.json");
            let index = Index { key: format!("{date}/{sid}/{name}"), name, meta: meta.clone() };
            Ok(Some((list, Some(index))))
        }
        Origin::Gateway { job: GatewayJob::Legacy { .. } } => {
            let source = dir.parts()?.into_iter().next().unwrap_or_else(|| dir.part(0));
            let gzip = !is_gzip(&source)?;
            let name = format!("{sid}.replay.gz");
            Ok(Some((vec![Original { key: format!("{date}/{name}"), name, source, gzip }], None)))
        }
        Origin::Api | Origin::Inbox { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::gateway_job::TaskConfig;
    use crate::pipeline::model::new_task_id;

    fn task(origin: Origin) -> Task {
        Task::receiving(&new_task_id(), "s1", origin, "2026-11-30".into())
    }

    fn dir_with_parts(n: usize) -> (tempfile::TempDir, TaskDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = TaskDir::new(tmp.path(), "t");
        dir.create().unwrap();
        for i in 0..n {
            std::fs::write(dir.part(i), b"4.sync,1.1;").unwrap();
        }
        (tmp, dir)
    }

    #[test]
    fn a_standalone_upload_is_one_video_of_all_parts() {
        let (_t, dir) = dir_with_parts(2);
        let p = plan(&task(Origin::Api), &dir).unwrap();
        assert_eq!(p.videos.len(), 1);
        assert_eq!(p.videos[0].key, "2026-11-30/s1/s1.mp4");
        assert_eq!(p.videos[0].inputs, vec![dir.part(0), dir.part(1)]);
        assert!(p.index.is_none());
        assert!(originals(&task(Origin::Api), &dir, |_| Ok(true)).unwrap().is_none(), "no fallback");
    }

    #[test]
    fn gateway_parts_are_one_video_each_then_the_index() {
        let (_t, dir) = dir_with_parts(2);
        let meta = serde_json::json!({"files": [{"name": "s1.0.part.gz"}, {"name": "s1.1.part.gz"}]});
        let t = task(Origin::Gateway { job: GatewayJob::Parts { config: TaskConfig::default(), meta } });
        let p = plan(&t, &dir).unwrap();
        let keys: Vec<&str> = p.videos.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["2026-11-30/s1/s1.0.part.mp4", "2026-11-30/s1/s1.1.part.mp4"]);
        assert_eq!(p.videos[1].inputs, vec![dir.part(1)]);
        assert_eq!(p.index.unwrap().key, "2026-11-30/s1/s1.replay.json");
        let (files, index) = originals(&t, &dir, |_| Ok(true)).unwrap().unwrap();
        assert_eq!(files[1].key, "2026-11-30/s1/s1.1.part.gz");
        assert!(index.is_some());
    }

    #[test]
    fn a_legacy_upload_is_one_replay_mp4_and_its_original_is_gzipped_if_raw() {
        let (_t, dir) = dir_with_parts(1);
        let t = task(Origin::Gateway { job: GatewayJob::Legacy { fields: Default::default() } });
        assert_eq!(plan(&t, &dir).unwrap().videos[0].key, "2026-11-30/s1.replay.mp4");
        let (files, _) = originals(&t, &dir, |_| Ok(false)).unwrap().unwrap();
        assert_eq!((files[0].key.as_str(), files[0].gzip), ("2026-11-30/s1.replay.gz", true));
    }
}

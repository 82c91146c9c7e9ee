//! A task's directory, `DATA_DIR/tasks/<id>/`: the received parts, the
//! files made from them, the task log, and the checkpoint markers that let
//! an interrupted task resume without redoing finished work. Every path and
//! marker of the "nothing lost" guarantee is named here and nowhere else.
//!
//! ```text
//! input/0000.guac ...     received parts, in order (deleted once stored)
//! output/<name>           a made file (MP4, index, or an original)
//! output/<name>.json      that video's description, written once it is complete
//! output/produced.json    every file of the task, once all are made
//! output/stored           every file is confirmed stored
//! output/upload_failure_reported   core was told of an upload failure once
//! task.log                the task's log
//! ```

use std::io;
use std::path::{Path, PathBuf};

use super::tasklog::TaskLog;

#[derive(Debug, Clone)]
pub struct TaskDir {
    root: PathBuf,
}

impl TaskDir {
    /// The directory of task `id` under `tasks` (`DATA_DIR/tasks`).
    pub fn new(tasks: &Path, id: &str) -> TaskDir {
        TaskDir { root: tasks.join(id) }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn input(&self) -> PathBuf {
        self.root.join("input")
    }

    /// Part `index` as received.
    pub fn part(&self, index: usize) -> PathBuf {
        self.input().join(format!("{index:04}.guac"))
    }

    /// The received parts, in order.
    pub fn parts(&self) -> io::Result<Vec<PathBuf>> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(self.input())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "guac"))
            .collect();
        parts.sort();
        Ok(parts)
    }

    /// (index, bytes on disk) of each of `count` announced parts that arrived.
    pub fn arrived(&self, count: usize) -> Vec<(usize, u64)> {
        (0..count).filter_map(|i| std::fs::metadata(self.part(i)).ok().map(|m| (i, m.len()))).collect()
    }

    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }

    pub fn output_file(&self, name: &str) -> PathBuf {
        self.output().join(name)
    }

    /// Where a finished video's description is kept.
    pub fn video_record(&self, name: &str) -> PathBuf {
        self.output().join(format!("{name}.json"))
    }

    pub fn produced(&self) -> PathBuf {
        self.output().join("produced.json")
    }

    fn stored_mark(&self) -> PathBuf {
        self.output().join("stored")
    }

    pub fn is_stored(&self) -> bool {
        self.stored_mark().exists()
    }

    pub fn mark_stored(&self) -> io::Result<()> {
        write_durably(&self.stored_mark(), b"")
    }

    fn upload_failure_mark(&self) -> PathBuf {
        self.output().join("upload_failure_reported")
    }

    pub fn upload_failure_reported(&self) -> bool {
        self.upload_failure_mark().exists()
    }

    pub fn mark_upload_failure_reported(&self, why: &str) {
        let _ = std::fs::write(self.upload_failure_mark(), why);
    }

    pub fn log(&self) -> TaskLog {
        TaskLog::new(&self.root)
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("task.log")
    }

    /// Creates the directory with its (empty) input folder.
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.input())
    }

    pub fn create_output(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.output())
    }

    /// Removes everything of the task.
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the received recording (only once it is stored).
    pub fn remove_input(&self) -> io::Result<()> {
        std::fs::remove_dir_all(self.input())
    }
}

/// Writes a file so that it is either absent or complete after a crash:
/// a temporary file, flushed to disk, renamed into place.
pub fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Makes a directory's entries (renamed part files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_listed_in_order_and_markers_persist() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = TaskDir::new(tmp.path(), "t1");
        dir.create().unwrap();
        for i in [2, 0, 1] {
            std::fs::write(dir.part(i), b"x").unwrap();
        }
        std::fs::write(dir.input().join("0003.tmp"), b"partial").unwrap();
        let names: Vec<String> =
            dir.parts().unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
        assert_eq!(names, ["0000.guac", "0001.guac", "0002.guac"]);
        assert_eq!(dir.arrived(4), vec![(0, 1), (1, 1), (2, 1)]);
        dir.create_output().unwrap();
        assert!(!dir.is_stored());
        dir.mark_stored().unwrap();
        assert!(TaskDir::new(tmp.path(), "t1").is_stored());
        dir.remove().unwrap();
        dir.remove().unwrap();
        assert!(!tmp.path().join("t1").exists());
    }
}

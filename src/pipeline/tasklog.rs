//! The per-task log, `DATA_DIR/tasks/<id>/task.log`: every step, timings,
//! ffmpeg's messages and errors, in plain lines an admin can read when an
//! auditor asks what happened to a recording.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct TaskLog {
    path: PathBuf,
}

impl TaskLog {
    pub fn new(task_dir: &Path) -> TaskLog {
        TaskLog { path: task_dir.join("task.log") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (multi-line text is indented under it). Logging must
    /// never fail a task, so write errors only reach the service log.
    pub fn line(&self, message: impl AsRef<str>) {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut text = String::new();
        for (i, l) in message.as_ref().lines().enumerate() {
            if i == 0 {
                text.push_str(&format!("{stamp} {l}\n"));
            } else {
                text.push_str(&format!("    {l}\n"));
            }
        }
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot write the task log");
        }
    }
}

//! The watch folder: recordings dropped into `INBOX_DIR` are taken once
//! complete (size and modification time unchanged between two looks, and no
//! process holding a write lock, as guacd does while recording), copied into
//! a task, and moved to `processed/` or `failed/` when the task ends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::Pipeline;
use super::intake::{self, NewTask};
use super::model::{Origin, Task};
use super::tasklog::TaskLog;

/// Polls the inbox until shutdown.
pub async fn watch(pipeline: Arc<Pipeline>, inbox: PathBuf) {
    for sub in ["processed", "failed"] {
        if let Err(e) = std::fs::create_dir_all(inbox.join(sub)) {
            tracing::error!(dir = %inbox.display(), error = %e, "cannot prepare the inbox");
        }
    }
    tracing::info!(dir = %inbox.display(), "watching the inbox");
    let mut seen: HashMap<PathBuf, (u64, SystemTime)> = HashMap::new();
    let every = pipeline.settings.inbox_poll;
    loop {
        tokio::select! {
            _ = pipeline.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        seen = poll(&pipeline, &inbox, seen).await;
    }
}

/// One look: takes files that did not change since the previous look.
async fn poll(
    pipeline: &Arc<Pipeline>,
    inbox: &Path,
    previous: HashMap<PathBuf, (u64, SystemTime)>,
) -> HashMap<PathBuf, (u64, SystemTime)> {
    let mut now = HashMap::new();
    let Ok(entries) = std::fs::read_dir(inbox) else {
        return now;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let stamp = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        let stable = previous.get(&path) == Some(&stamp);
        now.insert(path.clone(), stamp);
        if stable && meta.len() > 0 && !is_write_locked(&path) {
            take(pipeline, &path).await;
        }
    }
    now
}

async fn take(pipeline: &Arc<Pipeline>, path: &Path) {
    let key = path.display().to_string();
    match pipeline.queue.inbox_file_taken(&key).await {
        Ok(false) => {}
        Ok(true) => return,
        Err(e) => {
            tracing::error!(file = %key, error = %e, "cannot check the inbox file");
            return;
        }
    }
    let session = path
        .file_name()
        .map(|n| n.to_string_lossy().split('.').next().unwrap_or("").to_string())
        .filter(|s| super::model::is_safe_id(s));
    let new = NewTask {
        session_id: session,
        metadata: serde_json::json!({}),
        origin: Origin::Inbox { path: key.clone() },
        session_date: None,
    };
    match intake::from_file(pipeline, new, path).await {
        Ok(task) => tracing::info!(file = %key, task = %task, "inbox file taken"),
        Err(e) => tracing::error!(file = %key, error = %e, "cannot take the inbox file"),
    }
}

/// Moves a finished task's inbox file to `processed/` or `failed/`.
pub fn settle(pipeline: &Pipeline, task: &Task, ok: bool, log: &TaskLog) {
    let (Some(inbox), Some(source)) = (&pipeline.settings.inbox_dir, task.origin.inbox_path()) else {
        return;
    };
    let source = Path::new(source);
    let Some(name) = source.file_name() else { return };
    let dir = inbox.join(if ok { "processed" } else { "failed" });
    let mut target = dir.join(name);
    if target.exists() {
        target = dir.join(format!("{}.{}", name.to_string_lossy(), task.id));
    }
    match std::fs::rename(source, &target) {
        Ok(()) => log.line(format!("inbox file moved to {}", target.display())),
        Err(e) => log.line(format!("could not move the inbox file {}: {e}", source.display())),
    }
}

/// Whether another process holds a write lock on the file (guacd locks its
/// recording while the session runs).
fn is_write_locked(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = std::fs::File::open(path) else { return true };
    // SAFETY: F_GETLK fills the flock struct we own; the fd is valid.
    unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_RDLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        if libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) != 0 {
            return false;
        }
        lock.l_type != libc::F_UNLCK as libc::c_short
    }
}

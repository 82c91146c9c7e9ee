//! Receiving a recording announced in parts (the gateways' current
//! protocol): the task is created from the announcement, each part arrives
//! in its own request, and the task is queued once every announced part is
//! on disk with the right checksum.
//!
//! A gateway stores the recording itself as soon as any request fails, so a
//! task that fails a part, or stops receiving, is discarded: converting it
//! later could overwrite the replay the gateway stored meanwhile.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;

use super::intake::{IntakeError, today};
use super::model::{Source, State, Task, new_task_id, now_ms};
use super::spool::{spool, sync_dir};
use crate::jumpserver::gateway_job::GatewayJob;
use crate::jumpserver::replay_meta::CreateRequest;
use crate::service::app::App;

#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("no task {0} is waiting for parts")]
    NoTask(String),
    #[error("part {index} is out of range: the task announced {count} part(s)")]
    BadIndex { index: usize, count: usize },
    #[error("part {0} is already being received")]
    Busy(usize),
    #[error("part {index} ({name}) does not match its checksum: expected {expected}, received {actual}")]
    Checksum { index: usize, name: String, expected: String, actual: String },
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// Tasks with a part streaming in right now (never expired meanwhile).
#[derive(Default)]
pub struct Receiving(Mutex<HashSet<String>>);

/// Marks a task busy while one part streams in.
struct Busy<'a> {
    set: &'a Receiving,
    id: String,
}

impl Receiving {
    fn enter(&self, id: &str) -> Option<Busy<'_>> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(id.to_string()).then(|| Busy { set: self, id: id.to_string() })
    }

    fn contains(&self, id: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(id)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.set.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// Creates a task waiting for the announced parts; returns its id.
pub fn create(app: &Arc<App>, session_id: &str, request: CreateRequest) -> Result<String, IntakeError> {
    let id = new_task_id();
    let dir = app.task_dir(&id);
    std::fs::create_dir_all(dir.join("input")).map_err(IntakeError::from_io)?;
    let job = GatewayJob::Parts { config: request.config, meta: request.meta };
    let task = Task {
        session_date: request.session_date.unwrap_or_else(today),
        ..Task::receiving(&id, session_id, job.to_metadata(), Source::Gateway)
    };
    if let Err(e) = app.store.insert(&task) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    Ok(id)
}

/// What a received part completed.
pub struct Received {
    /// Every announced part is in: the task is queued.
    pub complete: bool,
    pub size: u64,
}

/// Receives part `index` of task `id`. Any failure discards the whole task
/// (the gateway falls back to storing the recording itself).
pub async fn receive<S, E>(app: &Arc<App>, id: &str, index: usize, body: S) -> Result<Received, PartError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let task = waiting_task(app, id)?;
    let Some(_busy) = app.parts.enter(id) else {
        return Err(PartError::Busy(index));
    };
    let outcome = receive_into(app, &task, index, body).await;
    if let Err(e) = &outcome {
        discard(app, id, &e.to_string());
    }
    outcome
}

fn waiting_task(app: &App, id: &str) -> Result<Task, PartError> {
    let task = app.store.get(id).map_err(IntakeError::from)?;
    match task {
        Some(t) if t.state == State::Receiving && t.source == Source::Gateway => Ok(t),
        _ => Err(PartError::NoTask(id.to_string())),
    }
}

async fn receive_into<S, E>(app: &Arc<App>, task: &Task, index: usize, body: S) -> Result<Received, PartError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let files = GatewayJob::of(task).map(|j| j.files()).unwrap_or_default();
    let file = files.get(index).ok_or(PartError::BadIndex { index, count: files.len() })?;
    let input = app.task_dir(&task.id).join("input");
    let path = part_path(&input, index);
    let others: u64 = arrived(&input, files.len()).iter().filter(|(i, _)| *i != index).map(|(_, n)| n).sum();
    let limit = app.config.max_upload_bytes.saturating_sub(others);
    let part = spool(body, &path, limit, true).await.map_err(|e| match e {
        IntakeError::TooLarge(_) => IntakeError::TooLarge(app.config.max_upload_bytes),
        e => e,
    })?;
    if let (Some(expected), Some(actual)) = (&file.checksum, &part.sha256)
        && expected != actual
    {
        return Err(PartError::Checksum {
            index,
            name: file.name.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    sync_dir(&input).map_err(IntakeError::from_io)?;
    let parts = arrived(&input, files.len());
    let (have, bytes) = (parts.len(), parts.iter().map(|(_, n)| n).sum());
    let complete = have == files.len();
    if complete {
        app.store
            .mark_queued(&task.id, &task.session_id, have as u32, bytes, None)
            .map_err(IntakeError::from)?;
        app.wake.notify_one();
    } else {
        app.store.set_received(&task.id, have as u32, bytes).map_err(IntakeError::from)?;
    }
    Ok(Received { complete, size: part.size })
}

pub fn part_path(input: &std::path::Path, index: usize) -> PathBuf {
    input.join(format!("{index:04}.guac"))
}

/// (index, bytes on disk) of each part that has arrived.
fn arrived(input: &std::path::Path, count: usize) -> Vec<(usize, u64)> {
    (0..count).filter_map(|i| std::fs::metadata(part_path(input, i)).ok().map(|m| (i, m.len()))).collect()
}

/// Removes a task that will never be complete.
pub fn discard(app: &App, id: &str, why: &str) {
    let _ = app.store.delete(id);
    let _ = std::fs::remove_dir_all(app.task_dir(id));
    metrics::counter!("video_worker_discarded_tasks_total").increment(1);
    tracing::warn!(task = %id, reason = %why, "incomplete gateway task discarded; the gateway stores the recording itself");
}

/// Discards gateway tasks that received nothing for `idle_ms`.
pub fn expire_idle(app: &App, idle_ms: i64) -> usize {
    let stale = match app.store.idle_receiving(Source::Gateway, now_ms() - idle_ms) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "cannot look for idle gateway tasks");
            return 0;
        }
    };
    let mut n = 0;
    for id in stale.iter().filter(|id| !app.parts.contains(id)) {
        discard(app, id, "no part arrived within INCOMPLETE_TASK_TIMEOUT");
        n += 1;
    }
    n
}

/// Runs [`expire_idle`] until shutdown, every minute (or a quarter of the
/// timeout, when that is shorter).
pub async fn expire_loop(app: Arc<App>) {
    let timeout = app.config.incomplete_task_timeout;
    let idle_ms = timeout.as_millis() as i64;
    let every =
        (timeout / 4).clamp(std::time::Duration::from_millis(250), std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        expire_idle(&app, idle_ms);
    }
}

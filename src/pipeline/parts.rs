//! Receiving a recording announced in parts (the gateways' current
//! protocol): the task is created from the announcement, each part arrives
//! in its own request, and the task is queued once every announced part is
//! on disk with the right checksum.
//!
//! A gateway stores the recording itself as soon as any request fails, so a
//! task that fails a part, or stops receiving, is discarded: converting it
//! later could overwrite the replay the gateway stored meanwhile.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;

use super::Pipeline;
use super::error_code::ErrorCode;
use super::gateway_job::GatewayJob;
use super::intake::{BoxError, IntakeError};
use super::model::{Origin, State, Task, new_task_id, now_ms, today};
use super::spool::{Body, spool_as};
use super::task_dir::sync_dir;

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

impl PartError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PartError::NoTask(_) => ErrorCode::NotFound,
            PartError::BadIndex { .. } | PartError::Checksum { .. } => ErrorCode::BadRequest,
            PartError::Busy(_) => ErrorCode::Conflict,
            PartError::Intake(i) => i.code(),
        }
    }
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

/// Creates a task waiting for the parts `job` announced; returns its id.
pub async fn create(
    pipeline: &Pipeline,
    session_id: &str,
    job: GatewayJob,
    session_date: Option<String>,
) -> Result<String, IntakeError> {
    let id = new_task_id();
    let dir = pipeline.task_dir(&id);
    dir.create().map_err(|e| IntakeError::io(dir.path().display(), e))?;
    let task = Task::receiving(&id, session_id, Origin::Gateway { job }, session_date.unwrap_or_else(today));
    if let Err(e) = pipeline.queue.insert(task).await {
        let _ = dir.remove();
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
pub async fn receive<S, E>(
    pipeline: &Arc<Pipeline>,
    id: &str,
    index: usize,
    body: S,
) -> Result<Received, PartError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    let task = waiting_task(pipeline, id).await?;
    let Some(_busy) = pipeline.parts_in_flight.enter(id) else {
        return Err(PartError::Busy(index));
    };
    let outcome = receive_into(pipeline, &task, index, body).await;
    if let Err(e) = &outcome {
        discard(pipeline, id, &e.to_string()).await;
    }
    outcome
}

async fn waiting_task(pipeline: &Pipeline, id: &str) -> Result<Task, PartError> {
    let task = pipeline.queue.get(id).await.map_err(IntakeError::from)?;
    match task {
        Some(t) if t.state == State::Receiving && t.origin.is_gateway() => Ok(t),
        _ => Err(PartError::NoTask(id.to_string())),
    }
}

async fn receive_into<S, E>(
    pipeline: &Pipeline,
    task: &Task,
    index: usize,
    body: S,
) -> Result<Received, PartError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    let files = task.origin.gateway_job().map(GatewayJob::files).unwrap_or_default();
    let file = files.get(index).ok_or(PartError::BadIndex { index, count: files.len() })?;
    let dir = pipeline.task_dir(&task.id);
    // In a cluster the task may have been announced to another node.
    dir.create().map_err(|e| IntakeError::io(dir.path().display(), e))?;
    // Parts that arrived here, or (in a cluster) on any node.
    let here: u64 = dir.arrived(files.len()).iter().filter(|(i, _)| *i != index).map(|(_, n)| n).sum();
    let anywhere: u64 = task.parts_arrived.iter().filter(|(i, _)| *i as usize != index).map(|(_, n)| n).sum();
    let others = here.max(anywhere);
    let max = pipeline.settings.max_upload_bytes;
    let key = pipeline.key.as_deref();
    let part = spool_as(body, Body::Plain, &dir.part(index), max.saturating_sub(others), true, key)
        .await
        .map_err(|e| match e {
            IntakeError::TooLarge { .. } => IntakeError::TooLarge { limit: max },
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
    sync_dir(&dir.input()).map_err(|e| IntakeError::io(dir.input().display(), e))?;
    let queue = &pipeline.queue;
    let shared = queue.part_received(&task.id, index as u32, &dir.part(index), part.size).await;
    let parts: Vec<(usize, u64)> = match shared.map_err(IntakeError::from)? {
        Some(arrived) => arrived.into_iter().map(|(i, n)| (i as usize, n)).collect(),
        None => dir.arrived(files.len()),
    };
    let (have, bytes) = (parts.len(), parts.iter().map(|(_, n)| n).sum());
    let complete = have == files.len();
    if complete {
        let received = super::queue::Received {
            session_id: task.session_id.clone(),
            parts: have as u32,
            bytes,
            metadata: None,
        };
        queue.enqueue(&task.id, received).await.map_err(IntakeError::from)?;
    } else {
        queue.set_received(&task.id, have as u32, bytes).await.map_err(IntakeError::from)?;
    }
    Ok(Received { complete, size: part.size })
}

/// Removes a task that will never be complete.
pub async fn discard(pipeline: &Pipeline, id: &str, why: &str) {
    if let Err(e) = pipeline.queue.delete(id).await {
        tracing::warn!(task = %id, error = %e, "cannot remove the record of a discarded task");
    }
    let _ = pipeline.task_dir(id).remove();
    metrics::counter!("video_worker_discarded_tasks_total").increment(1);
    tracing::warn!(task = %id, reason = %why, "incomplete gateway task discarded; the gateway stores the recording itself");
}

/// Discards gateway tasks that received nothing for `idle_ms`.
pub async fn expire_idle(pipeline: &Pipeline, idle_ms: i64) -> usize {
    let stale = match pipeline.queue.idle_receiving(now_ms() - idle_ms).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "cannot look for idle gateway tasks");
            return 0;
        }
    };
    let mut n = 0;
    for id in stale.iter().filter(|id| !pipeline.parts_in_flight.contains(id)) {
        discard(pipeline, id, "no part arrived within INCOMPLETE_TASK_TIMEOUT").await;
        n += 1;
    }
    n
}

/// Runs [`expire_idle`] until shutdown, every minute (or a quarter of the
/// timeout, when that is shorter).
pub async fn expire_loop(pipeline: Arc<Pipeline>) {
    let timeout = pipeline.settings.incomplete_task_timeout;
    let idle_ms = timeout.as_millis() as i64;
    let every =
        (timeout / 4).clamp(std::time::Duration::from_millis(250), std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = pipeline.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        expire_idle(&pipeline, idle_ms).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::gateway_job::TaskConfig;
    use crate::pipeline::testing::Harness;

    fn body(data: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(vec![Ok(Bytes::from_static(data))])
    }

    fn sha(data: &[u8]) -> String {
        use sha2::Digest;
        super::super::spool::hex(&sha2::Sha256::digest(data))
    }

    fn job(checksums: [&str; 2]) -> GatewayJob {
        let files: Vec<_> = checksums
            .iter()
            .enumerate()
            .map(|(i, c)| serde_json::json!({"name": format!("s1.{i}.part.gz"), "checksum": c}))
            .collect();
        GatewayJob::Parts {
            config: TaskConfig::default(),
            meta: serde_json::json!({"id": "s1", "files": files}),
        }
    }

    #[tokio::test]
    async fn a_task_is_queued_once_every_announced_part_is_in() {
        let h = Harness::new();
        let id = create(&h.pipeline, "s1", job([&sha(b"part-a"), &sha(b"part-b")]), None).await.unwrap();
        let first = receive(&h.pipeline, &id, 1, body(b"part-b")).await.unwrap();
        assert!(!first.complete);
        assert_eq!(h.pipeline.queue.get(&id).await.unwrap().unwrap().state, State::Receiving);
        let second = receive(&h.pipeline, &id, 0, body(b"part-a")).await.unwrap();
        assert!(second.complete);
        let task = h.pipeline.queue.get(&id).await.unwrap().unwrap();
        assert_eq!((task.state, task.input_parts, task.input_bytes), (State::Queued, 2, 12));
    }

    #[tokio::test]
    async fn a_wrong_checksum_or_index_discards_the_task() {
        let h = Harness::new();
        let id = create(&h.pipeline, "s1", job([&sha(b"a"), ""]), None).await.unwrap();
        let e = receive(&h.pipeline, &id, 5, body(b"a")).await.err().unwrap();
        assert!(matches!(e, PartError::BadIndex { index: 5, count: 2 }), "{e}");
        assert!(h.pipeline.queue.get(&id).await.unwrap().is_none(), "the task is gone");
        let id = create(&h.pipeline, "s1", job([&sha(b"a"), ""]), None).await.unwrap();
        let e = receive(&h.pipeline, &id, 0, body(b"not a")).await.err().unwrap();
        assert_eq!(e.code(), "bad_request");
        assert!(!h.pipeline.task_dir(&id).path().exists());
        assert!(matches!(receive(&h.pipeline, &id, 0, body(b"a")).await, Err(PartError::NoTask(_))));
    }

    #[tokio::test]
    async fn idle_tasks_expire() {
        let h = Harness::new();
        let id = create(&h.pipeline, "s1", job(["", ""]), None).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(expire_idle(&h.pipeline, 10).await, 1);
        assert!(h.pipeline.queue.get(&id).await.unwrap().is_none());
    }
}

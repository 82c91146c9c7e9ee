//! Taking in a recording: a task is created in state `receiving`, each part
//! streams to disk (constant memory, any size), is flushed to disk and
//! renamed into place, and only then is the task queued. An upload that is
//! cut off, too large, or interrupted by a crash leaves no task behind: the
//! guard removes it when dropped, and start-up recovery removes any a crash
//! left in `receiving`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::Stream;

use super::Pipeline;
use super::error_code::ErrorCode;
use super::model::{Origin, Task, is_safe_id, new_task_id, today};
use super::queue::{QueueError, Received};
use super::spool::{Body, spool_as};
use super::task_dir::{TaskDir, sync_dir};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the upload exceeds the limit of {limit} bytes (MAX_UPLOAD_SIZE)")]
    TooLarge { limit: u64 },
    #[error("no space left on the device for the upload")]
    DiskFull(#[source] std::io::Error),
    #[error("the upload was cut off: {0}")]
    Interrupted(#[source] BoxError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is sealed but this worker has no VIDEO_WORKER_SECRET_KEY to open it")]
    NoKey,
    #[error("the sealed body does not open: {0}")]
    BadSeal(#[source] std::io::Error),
    #[error("cannot store the upload: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record the upload: {0}")]
    Queue(#[from] QueueError),
}

impl IntakeError {
    /// A file system error while receiving `what`; a full disk is its own case.
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> IntakeError {
        if e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull {
            IntakeError::DiskFull(e)
        } else {
            IntakeError::Io { what: what.to_string(), source: e }
        }
    }

    /// A stable name for the kind of refusal, for clients and the HTTP mapping.
    pub fn code(&self) -> ErrorCode {
        match self {
            IntakeError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            IntakeError::DiskFull(_) => ErrorCode::InsufficientStorage,
            IntakeError::Interrupted(_) => ErrorCode::UploadInterrupted,
            IntakeError::BadRequest(_) | IntakeError::NoKey | IntakeError::BadSeal(_) => {
                ErrorCode::BadRequest
            }
            IntakeError::Io { .. } => ErrorCode::Internal,
            IntakeError::Queue(e) => e.code(),
        }
    }

    /// Whether the client may send the same upload again later and succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, IntakeError::DiskFull(_) | IntakeError::Io { .. } | IntakeError::Queue(_))
    }
}

const BAD_SESSION_ID: &str = "session_id must be 1-128 characters of letters, digits, '-', '_' or '.'";

/// What the caller knows about a new task.
pub struct NewTask {
    pub session_id: Option<String>,
    pub metadata: serde_json::Value,
    pub origin: Origin,
    /// `YYYY-MM-DD` for storage keys; today (UTC) when not known.
    pub session_date: Option<String>,
}

/// A task being received. Dropping it before [`Intake::commit`] removes
/// the task and its files.
pub struct Intake {
    pipeline: Arc<Pipeline>,
    id: String,
    dir: TaskDir,
    session_id: Option<String>,
    metadata: Option<serde_json::Value>,
    parts: u32,
    bytes: u64,
    committed: bool,
}

impl Intake {
    pub async fn begin(pipeline: &Arc<Pipeline>, new: NewTask) -> Result<Intake, IntakeError> {
        if new.session_id.as_deref().is_some_and(|sid| !is_safe_id(sid)) {
            return Err(IntakeError::BadRequest(BAD_SESSION_ID.into()));
        }
        let id = new_task_id();
        let dir = pipeline.task_dir(&id);
        dir.create().map_err(|e| IntakeError::io(dir.path().display(), e))?;
        let sid = new.session_id.clone().unwrap_or_else(|| id.clone());
        let task = Task {
            metadata: new.metadata,
            ..Task::receiving(&id, &sid, new.origin, new.session_date.unwrap_or_else(today))
        };
        // From here on the guard owns the task: any early return cleans up.
        pipeline.status.receiving.fetch_add(1, Ordering::Relaxed);
        let intake = Intake {
            pipeline: pipeline.clone(),
            id,
            dir,
            session_id: new.session_id,
            metadata: None,
            parts: 0,
            bytes: 0,
            committed: false,
        };
        pipeline.queue.insert(task).await?;
        Ok(intake)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn set_session_id(&mut self, sid: String) -> Result<(), IntakeError> {
        if !is_safe_id(&sid) {
            return Err(IntakeError::BadRequest(BAD_SESSION_ID.into()));
        }
        self.session_id = Some(sid);
        Ok(())
    }

    /// Metadata given after the task began (a multipart field).
    pub fn set_metadata(&mut self, value: serde_json::Value) {
        self.metadata = Some(value);
    }

    /// Streams one part to disk; returns its size.
    pub async fn write_part<S, E>(&mut self, body: S) -> Result<u64, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<BoxError>,
    {
        self.write_part_as(body, Body::Plain).await
    }

    /// [`Intake::write_part`] for a body that may come sealed.
    pub async fn write_part_as<S, E>(&mut self, body: S, kind: Body) -> Result<u64, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<BoxError>,
    {
        let max = self.pipeline.settings.max_upload_bytes;
        let limit = max.saturating_sub(self.bytes);
        let path = self.dir.part(self.parts as usize);
        let key = self.pipeline.key.as_deref();
        let part = spool_as(body, kind, &path, limit, false, key).await.map_err(|e| match e {
            IntakeError::TooLarge { .. } => IntakeError::TooLarge { limit: max },
            e => e,
        })?;
        self.parts += 1;
        self.bytes += part.size;
        Ok(part.size)
    }

    /// Queues the task; the recording is now the worker's responsibility.
    pub async fn commit(mut self) -> Result<String, IntakeError> {
        if self.parts == 0 || self.bytes == 0 {
            return Err(IntakeError::BadRequest("the upload carried no recording data".into()));
        }
        let input = self.dir.input();
        sync_dir(&input).map_err(|e| IntakeError::io(input.display(), e))?;
        let received = Received {
            session_id: self.session_id.clone().unwrap_or_else(|| self.id.clone()),
            parts: self.parts,
            bytes: self.bytes,
            metadata: self.metadata.take(),
        };
        self.pipeline.queue.enqueue(&self.id, received).await?;
        self.committed = true;
        Ok(self.id.clone())
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.pipeline.status.receiving.fetch_sub(1, Ordering::Relaxed);
        if self.committed {
            return;
        }
        let _ = self.dir.remove();
        tracing::info!(task = %self.id, "incomplete upload discarded");
        // The record goes too; a drop cannot wait, so this runs on its own
        // (and start-up recovery removes any a crash left behind).
        let (queue, id) = (self.pipeline.queue.clone(), self.id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            // Tracked: shutdown waits for it.
            self.pipeline.tracker.spawn_on(async move {
                if let Err(e) = queue.delete(&id).await {
                    tracing::warn!(task = %id, error = %e, "cannot remove the record of a discarded upload");
                }
            }, &handle);
        }
    }
}

/// Creates a task from a file on disk (the inbox), copying it.
pub async fn from_file(pipeline: &Arc<Pipeline>, new: NewTask, path: &Path) -> Result<String, IntakeError> {
    let mut intake = Intake::begin(pipeline, new).await?;
    let file = tokio::fs::File::open(path).await.map_err(|e| IntakeError::io(path.display(), e))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    intake.write_part(stream).await?;
    intake.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::Harness;

    fn chunks(data: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(data.iter().map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>())
    }

    fn new_task(session: Option<&str>) -> NewTask {
        NewTask {
            session_id: session.map(String::from),
            metadata: serde_json::json!({"k": 1}),
            origin: Origin::Api,
            session_date: None,
        }
    }

    #[tokio::test]
    async fn a_committed_upload_is_queued_with_its_parts_on_disk() {
        let h = Harness::new();
        let mut intake = Intake::begin(&h.pipeline, new_task(Some("s-1"))).await.unwrap();
        intake.write_part(chunks(&[b"4.sync,", b"1.1;"])).await.unwrap();
        intake.write_part(chunks(&[b"4.sync,1.2;"])).await.unwrap();
        let id = intake.commit().await.unwrap();
        let task = h.pipeline.queue.get(&id).await.unwrap().unwrap();
        assert_eq!(
            (task.state, task.input_parts, task.input_bytes),
            (super::super::model::State::Queued, 2, 22)
        );
        assert_eq!(task.session_id, "s-1");
        assert_eq!(std::fs::read(h.pipeline.task_dir(&id).part(1)).unwrap(), b"4.sync,1.2;");
        assert_eq!(h.pipeline.status.receiving(), 0);
    }

    #[tokio::test]
    async fn an_abandoned_or_oversized_upload_leaves_nothing() {
        let h = Harness::with(|s| s.max_upload_bytes = 8);
        let mut intake = Intake::begin(&h.pipeline, new_task(None)).await.unwrap();
        let id = intake.id().to_string();
        let err = intake.write_part(chunks(&[b"0123456789"])).await.unwrap_err();
        assert!(matches!(err, IntakeError::TooLarge { limit: 8 }), "{err}");
        assert_eq!(err.code(), "payload_too_large");
        drop(intake);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(h.pipeline.queue.get(&id).await.unwrap().is_none());
        assert!(!h.pipeline.task_dir(&id).path().exists());
        let empty = Intake::begin(&h.pipeline, new_task(None)).await.unwrap();
        assert!(matches!(empty.commit().await, Err(IntakeError::BadRequest(_))));
        assert!(matches!(
            Intake::begin(&h.pipeline, new_task(Some("../etc"))).await,
            Err(IntakeError::BadRequest(_))
        ));
    }

    #[tokio::test]
    async fn a_cut_off_body_keeps_its_cause() {
        let h = Harness::new();
        let mut intake = Intake::begin(&h.pipeline, new_task(None)).await.unwrap();
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"4.sync")),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer went away")),
        ]);
        let err = intake.write_part(broken).await.unwrap_err();
        assert_eq!(err.code(), "upload_interrupted");
        let cause = std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default();
        assert!(cause.contains("peer went away"), "{cause}");
    }
}

//! Taking in a recording: a task is created in state `receiving`, each part
//! streams to disk (constant memory, any size), is flushed to disk and
//! renamed into place, and only then is the task queued. An upload that is
//! cut off, too large, or interrupted by a crash leaves no task behind: the
//! guard removes it when dropped, and start-up recovery removes any a crash
//! left in `receiving`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::Stream;

use super::spool::{Body, spool_as, sync_dir};
use crate::service::app::App;
use crate::tasks::model::{Source, Task, is_safe_id, new_task_id};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the upload exceeds the limit of {0} bytes (MAX_UPLOAD_SIZE)")]
    TooLarge(u64),
    #[error("no space left on the device for the upload")]
    DiskFull,
    #[error("the upload was cut off: {0}")]
    Interrupted(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("cannot store the upload: {0}")]
    Io(String),
}

impl From<crate::tasks::store::StoreError> for IntakeError {
    fn from(e: crate::tasks::store::StoreError) -> IntakeError {
        IntakeError::Io(e.to_string())
    }
}

impl IntakeError {
    pub fn from_io(e: std::io::Error) -> IntakeError {
        if e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull {
            IntakeError::DiskFull
        } else {
            IntakeError::Io(e.to_string())
        }
    }
}

/// What the caller knows about a new task.
pub struct NewTask {
    pub session_id: Option<String>,
    pub metadata: serde_json::Value,
    pub source: Source,
    pub source_path: Option<String>,
    /// `YYYY-MM-DD` for storage keys; today (UTC) when not known.
    pub session_date: Option<String>,
}

/// A task being received. Dropping it before [`Intake::commit`] removes
/// the task and its files.
pub struct Intake {
    app: Arc<App>,
    id: String,
    dir: PathBuf,
    session_id: Option<String>,
    metadata: Option<serde_json::Value>,
    parts: u32,
    bytes: u64,
    committed: bool,
}

impl Intake {
    pub fn begin(app: &Arc<App>, new: NewTask) -> Result<Intake, IntakeError> {
        if let Some(sid) = &new.session_id
            && !is_safe_id(sid)
        {
            return Err(IntakeError::BadRequest(
                "session_id must be 1-128 characters of letters, digits, '-', '_' or '.'".into(),
            ));
        }
        let id = new_task_id();
        let dir = app.task_dir(&id);
        std::fs::create_dir_all(dir.join("input")).map_err(IntakeError::from_io)?;
        let sid = new.session_id.clone().unwrap_or_else(|| id.clone());
        let task = Task {
            source_path: new.source_path,
            session_date: new.session_date.unwrap_or_else(today),
            ..Task::receiving(&id, &sid, new.metadata, new.source)
        };
        // From here on the guard owns the task: any early return cleans up.
        app.receiving.fetch_add(1, Ordering::Relaxed);
        let intake = Intake {
            app: app.clone(),
            id,
            dir,
            session_id: new.session_id,
            metadata: None,
            parts: 0,
            bytes: 0,
            committed: false,
        };
        app.store.insert(&task)?;
        Ok(intake)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn set_session_id(&mut self, sid: String) -> Result<(), IntakeError> {
        if !is_safe_id(&sid) {
            return Err(IntakeError::BadRequest(
                "session_id must be 1-128 characters of letters, digits, '-', '_' or '.'".into(),
            ));
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
        E: std::fmt::Display,
    {
        self.write_part_as(body, Body::Plain).await
    }

    /// [`Intake::write_part`] for a body that may come sealed.
    pub async fn write_part_as<S, E>(&mut self, body: S, kind: Body) -> Result<u64, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = self.app.config.max_upload_bytes.saturating_sub(self.bytes);
        let path = self.dir.join("input").join(format!("{:04}.guac", self.parts));
        let part = spool_as(body, kind, &path, limit, false).await.map_err(|e| match e {
            IntakeError::TooLarge(_) => IntakeError::TooLarge(self.app.config.max_upload_bytes),
            e => e,
        })?;
        self.parts += 1;
        self.bytes += part.size;
        Ok(part.size)
    }

    /// Queues the task; the recording is now the worker's responsibility.
    pub fn commit(mut self) -> Result<String, IntakeError> {
        if self.parts == 0 || self.bytes == 0 {
            return Err(IntakeError::BadRequest("the upload carried no recording data".into()));
        }
        sync_dir(&self.dir.join("input")).map_err(IntakeError::from_io)?;
        let sid = self.session_id.clone().unwrap_or_else(|| self.id.clone());
        self.app.store.mark_queued(&self.id, &sid, self.parts, self.bytes, self.metadata.as_ref())?;
        self.committed = true;
        self.app.wake.notify_one();
        Ok(self.id.clone())
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.app.receiving.fetch_sub(1, Ordering::Relaxed);
        if !self.committed {
            let _ = self.app.store.delete(&self.id);
            let _ = std::fs::remove_dir_all(&self.dir);
            tracing::info!(task = %self.id, "incomplete upload discarded");
        }
    }
}

/// Creates a task from a file on disk (the inbox), copying it.
pub async fn from_file(app: &Arc<App>, new: NewTask, path: &Path) -> Result<String, IntakeError> {
    let mut intake = Intake::begin(app, new)?;
    let file = tokio::fs::File::open(path).await.map_err(IntakeError::from_io)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    intake.write_part(stream).await?;
    intake.commit()
}

/// Today's date (UTC), the storage date of a recording that gives none.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

//! What the pipeline needs from the world around it, as small traits it
//! owns: where a task's files are stored ([`Destinations`] giving a
//! [`Storage`]), and whom a stored session is reported to ([`Reporting`]
//! giving a [`SessionReporter`]). The standalone implementations are here
//! ([`Fixed`], [`NoReports`]); `storage/` implements [`Storage`] for each
//! backend, and `jumpserver/` implements the ports for gateway tasks. So the
//! pipeline never names a storage kind or JumpServer.

use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::model::Task;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage {storage}: cannot read {file}: {source}")]
    ReadLocal {
        storage: String,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("storage {storage}: writing {key} failed: {source}")]
    Write {
        storage: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("storage {storage}: reading {key} failed: {source}")]
    Read {
        storage: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("storage {storage}: {key} was stored with {stored} bytes, expected {expected}")]
    Mismatch { storage: String, key: String, stored: u64, expected: u64 },
}

/// An object confirmed stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub size: u64,
}

/// Where finished files go. Uploads stream from disk; no file is read whole
/// into memory.
pub trait Storage: Send + Sync {
    /// A short name for logs ("local /srv/replays", "s3 bucket ...").
    fn describe(&self) -> String;

    /// Streams `file` to `key` and confirms the stored size. Writing the same
    /// key again replaces the object (retries never make duplicates).
    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>>;

    /// Whether files other than the session's own may be stored beside it
    /// (the keystroke track, thumbnails). Core's replay API files only
    /// replays: it would refuse them or list them as parts.
    fn takes_sidecars(&self) -> bool {
        true
    }

    /// Where a stored object can be read on this machine, if it can.
    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }

    /// Reads a stored object back, whole or bytes `range` (first and last,
    /// inclusive), for `/output` when no copy is on this machine. `None`:
    /// this storage cannot be read back (core's own storage).
    fn read<'a>(
        &'a self,
        _key: &'a str,
        _range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<Option<Fetched>, StorageError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A stored object being read back.
pub struct Fetched {
    /// The whole object's size.
    pub size: u64,
    /// The bytes asked for.
    pub body: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
}

/// Why a port cannot serve a task now. Always transient: the world around
/// the worker (core, its settings) may change; the task waits and retries.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// Which storage a task's files go to.
pub trait Destinations: Send + Sync {
    fn storage_for(&self, task: &Task) -> Result<Arc<dyn Storage>, PortError>;
}

/// The standalone destination: every task to one storage. A gateway task
/// cannot be served (it must go where JumpServer core says).
pub struct Fixed(pub Arc<dyn Storage>);

impl Destinations for Fixed {
    fn storage_for(&self, task: &Task) -> Result<Arc<dyn Storage>, PortError> {
        if task.origin.is_gateway() {
            return Err(PortError("CORE_HOST is not set; a gateway task needs core".into()));
        }
        Ok(self.0.clone())
    }
}

/// Session lifecycle events a reporter is told of, by name (core's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    ConvertStart,
    ConvertSuccess,
    ConvertFailure,
    UploadStart,
    UploadSuccess,
    UploadFailure,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::ConvertStart => "replay_convert_start",
            Event::ConvertSuccess => "replay_convert_success",
            Event::ConvertFailure => "replay_convert_failure",
            Event::UploadStart => "replay_upload_start",
            Event::UploadSuccess => "replay_upload_success",
            Event::UploadFailure => "replay_upload_failure",
        }
    }
}

/// A reporter that cannot reach whom it reports to; the task retries.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ReportError {
    pub message: String,
    /// Whether another attempt may succeed.
    pub transient: bool,
}

/// Tells the session's owner what happened to its recording.
pub trait SessionReporter: Send + Sync {
    /// A lifecycle event; `reason` may be empty. Events are a courtesy: a
    /// failure is the reporter's to log, never the task's.
    fn event<'a>(&'a self, event: Event, reason: &'a str) -> BoxFuture<'a, ()>;

    /// The replay is stored: `size` bytes of videos (the index excluded).
    fn replay_stored(&self, size: u64) -> BoxFuture<'_, Result<(), ReportError>>;

    /// The recording could not be converted; its original was stored.
    fn convert_failed(&self) -> BoxFuture<'_, Result<(), ReportError>>;
}

/// Who a task reports to.
pub trait Reporting: Send + Sync {
    /// `Ok(None)` for tasks nobody is told about.
    fn reporter_for(&self, task: &Task) -> Result<Option<Arc<dyn SessionReporter>>, PortError>;
}

/// The standalone reporting: nobody. A gateway task cannot finish without
/// telling core, so it waits.
pub struct NoReports;

impl Reporting for NoReports {
    fn reporter_for(&self, task: &Task) -> Result<Option<Arc<dyn SessionReporter>>, PortError> {
        if task.origin.is_gateway() {
            return Err(PortError("a gateway task needs CORE_HOST to report to core".into()));
        }
        Ok(None)
    }
}

//! Where received recordings wait for a transcoder on another machine: a
//! JetStream object store bucket (`STAGING=nats`) or an S3 bucket
//! (`STAGING=s3`). Files are staged as they lie in the task directory, so a
//! sealed recording stays sealed; nodes that share the key open it.
//!
//! Names: `<task>/input/<NNNN>.guac` for the parts, `<task>/task.log`.

use std::path::Path;

use async_nats::jetstream::object_store;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::pipeline::ports::Storage;
use crate::storage::object::ObjectStorage;

#[derive(Debug, thiserror::Error)]
#[error("staging ({place}): {what}: {cause}")]
pub struct StagingError {
    pub place: String,
    pub what: String,
    pub cause: String,
}

pub trait Staging: Send + Sync {
    fn describe(&self) -> String;

    /// Stages `file` as `name` (replacing an earlier copy).
    fn put<'a>(&'a self, name: &'a str, file: &'a Path) -> BoxFuture<'a, Result<(), StagingError>>;

    /// Writes `name` to `to` (durably); `false` when it is not staged.
    fn get<'a>(&'a self, name: &'a str, to: &'a Path) -> BoxFuture<'a, Result<bool, StagingError>>;

    /// Removes `name`; absent is fine.
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), StagingError>>;
}

/// The staged name of part `index` of task `id`.
pub fn part_name(id: &str, index: usize) -> String {
    format!("{id}/input/{index:04}.guac")
}

pub fn log_name(id: &str) -> String {
    format!("{id}/task.log")
}

/// Writes a download to a temporary file beside `to`, then renames it, so a
/// half-written part is never taken for a whole one.
async fn write_atomically<S, E>(mut chunks: S, to: &Path) -> std::io::Result<()>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = to.with_extension("download");
    let mut f = tokio::fs::File::create(&tmp).await?;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        f.write_all(&chunk).await?;
    }
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, to).await
}

pub struct NatsStaging {
    store: object_store::ObjectStore,
}

impl NatsStaging {
    pub fn new(store: object_store::ObjectStore) -> NatsStaging {
        NatsStaging { store }
    }

    fn error(&self, what: String, cause: impl std::fmt::Display) -> StagingError {
        StagingError { place: self.describe(), what, cause: cause.to_string() }
    }
}

impl Staging for NatsStaging {
    fn describe(&self) -> String {
        format!("NATS object store {}", super::STAGING_BUCKET)
    }

    fn put<'a>(&'a self, name: &'a str, file: &'a Path) -> BoxFuture<'a, Result<(), StagingError>> {
        Box::pin(async move {
            let mut f = tokio::fs::File::open(file)
                .await
                .map_err(|e| self.error(format!("read {}", file.display()), e))?;
            self.store.put(name, &mut f).await.map_err(|e| self.error(format!("put {name}"), e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, name: &'a str, to: &'a Path) -> BoxFuture<'a, Result<bool, StagingError>> {
        Box::pin(async move {
            let object = match self.store.get(name).await {
                Ok(o) => o,
                Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(self.error(format!("get {name}"), e)),
            };
            let chunks = tokio_util::io::ReaderStream::new(object);
            write_atomically(chunks, to).await.map_err(|e| self.error(format!("get {name}"), e))?;
            Ok(true)
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), StagingError>> {
        Box::pin(async move {
            match self.store.delete(name).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.error(format!("delete {name}"), e)),
            }
        })
    }
}

/// Staging in an S3 bucket, through the same OpenDAL client as the storage.
pub struct S3Staging {
    store: ObjectStorage,
}

impl S3Staging {
    pub fn new(store: ObjectStorage) -> S3Staging {
        S3Staging { store }
    }

    fn error(&self, what: String, cause: impl std::fmt::Display) -> StagingError {
        StagingError { place: self.describe(), what, cause: cause.to_string() }
    }
}

impl Staging for S3Staging {
    fn describe(&self) -> String {
        self.store.describe()
    }

    fn put<'a>(&'a self, name: &'a str, file: &'a Path) -> BoxFuture<'a, Result<(), StagingError>> {
        Box::pin(async move {
            self.store.put_file(name, file).await.map_err(|e| self.error(format!("put {name}"), e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, name: &'a str, to: &'a Path) -> BoxFuture<'a, Result<bool, StagingError>> {
        Box::pin(async move {
            let op = self.store.operator();
            match op.exists(name).await {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err(self.error(format!("look up {name}"), e)),
            }
            let reader = op.reader(name).await.map_err(|e| self.error(format!("get {name}"), e))?;
            let chunks =
                reader.into_bytes_stream(..).await.map_err(|e| self.error(format!("get {name}"), e))?;
            write_atomically(chunks, to).await.map_err(|e| self.error(format!("get {name}"), e))?;
            Ok(true)
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), StagingError>> {
        Box::pin(async move {
            self.store.operator().delete(name).await.map_err(|e| self.error(format!("delete {name}"), e))
        })
    }
}

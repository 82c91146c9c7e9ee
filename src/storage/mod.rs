//! Where finished MP4s go, behind one small interface so the pipeline does
//! not care whether it is a local directory, core's replay API or an object
//! store. Uploads stream from disk; no file is read whole into memory.

pub mod core;
pub mod local;
pub mod object;
pub mod select;
pub mod stream_put;

use std::path::Path;

use futures_util::future::BoxFuture;

pub use local::LocalStorage;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage {storage}: cannot read {file}: {source}")]
    ReadLocal { storage: String, file: String, source: std::io::Error },
    #[error("storage {storage}: writing {key} failed: {cause}")]
    Write { storage: String, key: String, cause: String },
    #[error("storage {storage}: {key} was stored with {stored} bytes, expected {expected}")]
    Mismatch { storage: String, key: String, stored: u64, expected: u64 },
}

/// An object confirmed stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub size: u64,
}

pub trait Storage: Send + Sync {
    /// A short name for logs ("local /srv/replays", "s3 bucket ...").
    fn describe(&self) -> String;

    /// Streams `file` to `key` and confirms the stored size. Writing the same
    /// key again replaces the object (retries never make duplicates).
    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>>;
}

//! A local directory (OpenDAL's fs service). Objects are written to a
//! temporary file and renamed into place, so a crash never leaves a half
//! MP4 under its final name.

use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use opendal::{Operator, services::Fs};

use super::stream_put::{self, PartPlan};
use crate::pipeline::ports::{Storage, StorageError, Stored};

pub struct LocalStorage {
    root: PathBuf,
    op: Operator,
}

impl LocalStorage {
    pub fn new(root: &Path) -> Result<LocalStorage, String> {
        std::fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let root = root.canonicalize().map_err(|e| format!("{}: {e}", root.display()))?;
        let tmp = root.join(".incoming");
        let builder = Fs::default().root(&root.to_string_lossy()).atomic_write_dir(&tmp.to_string_lossy());
        let op = Operator::new(builder).map_err(|e| e.to_string())?;
        Ok(LocalStorage { root, op })
    }

    async fn put(&self, key: &str, file: &Path) -> Result<Stored, StorageError> {
        // Whole-file writes: the fs service renames a finished temporary file.
        let whole = |_| PartPlan { part_size: None, concurrent: 1 };
        stream_put::put(&self.op, &self.describe(), key, file, whole).await
    }
}

impl Storage for LocalStorage {
    fn describe(&self) -> String {
        format!("local {}", self.root.display())
    }

    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(self.put(key, file))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        // Keys are made by the pipeline from safe ids; still, never leave the root.
        let safe = key.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        safe.then(|| self.root.join(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_a_file_under_its_key_and_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::new(&dir.path().join("replays")).unwrap();
        let src = dir.path().join("a.mp4");
        std::fs::write(&src, vec![7u8; 5 * 1024 * 1024 + 3]).unwrap();
        let stored = storage.put_file("2026-11-22/s1/s1.mp4", &src).await.unwrap();
        assert_eq!(stored.size, 5 * 1024 * 1024 + 3);
        let path = dir.path().join("replays/2026-11-22/s1/s1.mp4");
        assert_eq!(std::fs::read(&path).unwrap().len() as u64, stored.size);
        std::fs::write(&src, b"short").unwrap();
        storage.put_file("2026-11-22/s1/s1.mp4", &src).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}

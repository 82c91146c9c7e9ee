//! The `server` replay storage: MP4s go to core's replay API, which files
//! them itself by session date. The object key says which form to use:
//! `YYYY-MM-DD/<sid>/<file>` is a part-replay file (version 5, core keeps the
//! file name), `YYYY-MM-DD/<sid>.replay.mp4` the legacy single MP4 (version 4).

use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::core_client::CoreClient;
use crate::pipeline::ports::{Storage, StorageError, Stored};

pub struct CoreStorage {
    core: Arc<CoreClient>,
}

/// (session id, version, file name) for a key.
pub fn route(key: &str) -> Option<(String, u8, String)> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [_date, sid, file] if !sid.is_empty() && !file.is_empty() => {
            Some((sid.to_string(), 5, file.to_string()))
        }
        [_date, file] => {
            if let Some(sid) = file.strip_suffix(".replay.mp4") {
                Some((sid.to_string(), 4, file.to_string()))
            } else {
                let sid = file.strip_suffix(".replay.gz")?;
                Some((sid.to_string(), 2, file.to_string()))
            }
        }
        _ => None,
    }
}

impl CoreStorage {
    pub fn new(core: Arc<CoreClient>) -> CoreStorage {
        CoreStorage { core }
    }

    async fn put(&self, key: &str, file: &Path) -> Result<Stored, StorageError> {
        let err = |source: Box<dyn std::error::Error + Send + Sync>| StorageError::Write {
            storage: self.describe(),
            key: key.into(),
            source,
        };
        let (sid, version, name) = route(key).ok_or_else(|| err("not a replay key".into()))?;
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|source| StorageError::ReadLocal {
                storage: self.describe(),
                file: file.display().to_string(),
                source,
            })?
            .len();
        self.core.upload_replay(&sid, version, file, &name).await.map_err(|e| err(e.into()))?;
        Ok(Stored { key: key.to_string(), size })
    }
}

impl Storage for CoreStorage {
    fn describe(&self) -> String {
        format!("core {}", self.core.base())
    }

    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(self.put(key, file))
    }

    /// Core's replay API takes replays only.
    fn takes_sidecars(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn keys_map_to_core_versions() {
        assert_eq!(route("2026-11-22/s1/s1.0.part.mp4"), Some(("s1".into(), 5, "s1.0.part.mp4".into())));
        assert_eq!(route("2026-11-22/s1/s1.replay.json"), Some(("s1".into(), 5, "s1.replay.json".into())));
        assert_eq!(route("2026-11-22/s1.replay.mp4"), Some(("s1".into(), 4, "s1.replay.mp4".into())));
        assert_eq!(route("2026-11-22/s1.replay.gz"), Some(("s1".into(), 2, "s1.replay.gz".into())));
        assert_eq!(route("whatever"), None);
    }
}

//! Writing one received part to disk: streamed in chunks (constant memory,
//! any size), optionally hashed on the way, size-limited while it streams,
//! flushed to disk, and only then renamed to its final name, so a part that
//! is cut off never shows up as received.

use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::intake::IntakeError;

/// A part safely on disk.
pub struct Spooled {
    pub size: u64,
    /// Lowercase hex SHA-256, when asked for.
    pub sha256: Option<String>,
}

/// Streams `body` to `final_path`; at most `limit` bytes are accepted.
pub async fn spool<S, E>(
    mut body: S,
    final_path: &Path,
    limit: u64,
    hash: bool,
) -> Result<Spooled, IntakeError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let tmp = final_path.with_extension("tmp");
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(IntakeError::from_io)?;
        let mut hasher = hash.then(Sha256::new);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| IntakeError::Interrupted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(IntakeError::TooLarge(limit));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            file.write_all(&chunk).await.map_err(IntakeError::from_io)?;
        }
        file.sync_all().await.map_err(IntakeError::from_io)?;
        Ok(Spooled { size, sha256: hasher.map(|h| hex(&h.finalize())) })
    }
    .await;
    match result {
        Ok(s) => {
            tokio::fs::rename(&tmp, final_path).await.map_err(IntakeError::from_io)?;
            metrics::counter!("video_worker_bytes_in_total").increment(s.size);
            Ok(s)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a directory's entries (renamed part files) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

//! Writing one received part to disk: streamed in chunks (constant memory,
//! any size), optionally hashed on the way, sealed with the worker's key when
//! `VIDEO_WORKER_SECRET_KEY` is set, size-limited while it streams, flushed
//! to disk, and only then renamed to its final name, so a part that is cut
//! off never shows up as received.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::intake::{BoxError, IntakeError};
use crate::seal::{Key, SealWriter};

/// A part safely on disk.
pub struct Spooled {
    /// Bytes received (before sealing).
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes received, when asked for.
    pub sha256: Option<String>,
}

/// What a body is.
#[derive(Clone, Copy, PartialEq)]
pub enum Body {
    /// Plain recording bytes: sealed on the way to disk when a key is set.
    Plain,
    /// Already sealed by the sender with the shared key: kept as it is, and
    /// opened end to end before it counts as received.
    Sealed,
}

/// Streams a body of the given kind to `final_path`; at most `limit` bytes
/// are accepted. `key` seals plain bodies and opens sealed ones.
pub async fn spool_as<S, E>(
    body: S,
    kind: Body,
    final_path: &Path,
    limit: u64,
    hash: bool,
    key: Option<&Key>,
) -> Result<Spooled, IntakeError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    if kind == Body::Sealed && key.is_none() {
        return Err(IntakeError::NoKey);
    }
    let tmp = final_path.with_extension("tmp");
    let sealer = if kind == Body::Plain { key } else { None };
    let mut result = write_stream(body, &tmp, limit, hash, sealer).await;
    if let (Ok(_), Body::Sealed, Some(key)) = (&result, kind, key)
        && let Err(e) = verify_sealed(&tmp, key).await
    {
        result = Err(e);
    }
    match result {
        Ok(s) => {
            tokio::fs::rename(&tmp, final_path)
                .await
                .map_err(|e| IntakeError::io(final_path.display(), e))?;
            metrics::counter!("video_worker_bytes_in_total").increment(s.size);
            Ok(s)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

async fn write_stream<S, E>(
    mut body: S,
    tmp: &Path,
    limit: u64,
    hash: bool,
    key: Option<&Key>,
) -> Result<Spooled, IntakeError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    let io = |e| IntakeError::io(tmp.display(), e);
    let mut file = tokio::fs::File::create(tmp).await.map_err(io)?;
    let mut sealer = key.map(|k| SealWriter::new(Vec::new(), k)).transpose().map_err(io)?;
    let mut hasher = hash.then(Sha256::new);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| IntakeError::Interrupted(e.into()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(IntakeError::TooLarge { limit });
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        match sealer.as_mut() {
            Some(s) => {
                s.write_all(&chunk).map_err(io)?;
                file.write_all(&s.drain()).await.map_err(io)?;
            }
            None => file.write_all(&chunk).await.map_err(io)?,
        }
    }
    if let Some(s) = sealer {
        file.write_all(&s.finish().map_err(io)?).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    Ok(Spooled { size, sha256: hasher.map(|h| hex(&h.finalize())) })
}

/// A sealed body must open with our key, every chunk of it, before it is
/// accepted: the sender walks away once it is.
async fn verify_sealed(path: &Path, key: &Key) -> Result<(), IntakeError> {
    let (path, key) = (path.to_path_buf(), key.clone());
    match tokio::task::spawn_blocking(move || crate::seal::verify(&path, &key)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(IntakeError::BadSeal(e)),
        Err(e) => Err(IntakeError::io("the seal check", std::io::Error::other(e))),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

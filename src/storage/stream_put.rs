//! Streaming a local file into an OpenDAL operator, shared by every
//! OpenDAL-backed storage: the file is read in chunks (constant memory, any
//! size), an object store receives it as a multipart upload, a failed write
//! is aborted (no orphaned parts), and the stored size is checked.

use std::path::Path;

use opendal::Operator;
use tokio::io::AsyncReadExt;

use crate::pipeline::ports::{StorageError, Stored};

/// Bytes read from disk per write call.
const READ_CHUNK: usize = 4 * 1024 * 1024;
/// Smallest multipart part: S3 requires 5 MiB; 8 MiB keeps the part count low.
const MIN_PART: usize = 8 * 1024 * 1024;
/// Parts in a multipart upload stay below every provider's limit (S3: 10 000).
const MAX_PARTS: u64 = 9_000;

/// How the upload is cut into parts.
pub struct PartPlan {
    /// Bytes per multipart part, or `None` to let the service decide (fs).
    pub part_size: Option<usize>,
    /// Parts in flight at once (memory ≈ part_size × this).
    pub concurrent: usize,
}

impl PartPlan {
    /// Parts sized so that even a very large file stays under `MAX_PARTS`.
    pub fn for_size(size: u64) -> PartPlan {
        let needed = size.div_ceil(MAX_PARTS) as usize;
        PartPlan { part_size: Some(needed.max(MIN_PART)), concurrent: 2 }
    }
}

/// Writes `file` to `key` and confirms the stored size.
pub async fn put(
    op: &Operator,
    storage: &str,
    key: &str,
    file: &Path,
    plan: impl FnOnce(u64) -> PartPlan,
) -> Result<Stored, StorageError> {
    let read_err = |source| StorageError::ReadLocal {
        storage: storage.into(),
        file: file.display().to_string(),
        source,
    };
    let write_err = |e: opendal::Error| StorageError::Write {
        storage: storage.into(),
        key: key.into(),
        source: e.into(),
    };
    let mut input = tokio::fs::File::open(file).await.map_err(read_err)?;
    let expected = input.metadata().await.map_err(read_err)?.len();
    let plan = plan(expected);
    let mut writer = match plan.part_size {
        Some(part) => op.writer_with(key).chunk(part).concurrent(plan.concurrent).await,
        None => op.writer(key).await,
    }
    .map_err(write_err)?;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match input.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(read_err(e));
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = writer.write(buf[..n].to_vec()).await {
            let _ = writer.abort().await;
            return Err(write_err(e));
        }
    }
    if let Err(e) = writer.close().await {
        let _ = writer.abort().await;
        return Err(write_err(e));
    }
    let stored = op.stat(key).await.map_err(write_err)?.content_length();
    if stored != expected {
        return Err(StorageError::Mismatch { storage: storage.into(), key: key.into(), stored, expected });
    }
    Ok(Stored { key: key.to_string(), size: stored })
}

#[cfg(test)]
mod tests {
    use super::PartPlan;

    #[test]
    fn parts_grow_with_the_file_to_stay_under_the_part_limit() {
        assert_eq!(PartPlan::for_size(10).part_size, Some(8 * 1024 * 1024));
        let huge = 200u64 << 30; // 200 GiB
        let part = PartPlan::for_size(huge).part_size.unwrap() as u64;
        assert!(huge.div_ceil(part) <= 9_000);
    }
}

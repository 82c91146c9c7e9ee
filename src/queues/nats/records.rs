//! Task records in the KV bucket: one key per task id, the task's JSON
//! (sealed whole with `VIDEO_WORKER_SECRET_KEY` when one is set: it holds
//! user and asset names). Updates are compare-and-set on the revision, so two
//! nodes never overwrite each other's change.

use std::sync::Arc;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;

use super::ClusterError;
use crate::pipeline::model::Task;
use crate::pipeline::queue::QueueError;
use crate::pipeline::sealed_metadata::{from_store, to_store};
use crate::seal::Key;

pub struct Records {
    kv: kv::Store,
    key: Option<Arc<Key>>,
}

/// What an update does to a record it read.
pub enum Change {
    /// Write the changed task.
    Write,
    /// Leave it as it is.
    Keep,
}

impl Records {
    pub fn new(kv: kv::Store, key: Option<Arc<Key>>) -> Records {
        Records { kv, key }
    }

    fn encode(&self, task: &Task) -> Bytes {
        let value = serde_json::to_value(task).unwrap_or_default();
        Bytes::from(to_store(&value, self.key.as_deref()))
    }

    fn decode(&self, id: &str, bytes: &[u8]) -> Result<Task, QueueError> {
        let record =
            |e: String| QueueError::Record { what: format!("the record of task {id}"), source: e.into() };
        let text = std::str::from_utf8(bytes).map_err(|e| record(e.to_string()))?;
        let value = from_store(text, self.key.as_deref()).map_err(record)?;
        serde_json::from_value(value).map_err(|e| record(e.to_string()))
    }

    async fn entry(&self, id: &str) -> Result<Option<(Task, u64)>, QueueError> {
        let entry = self.kv.entry(id).await.map_err(|e| ClusterError::new(format!("read task {id}"), e))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                Ok(Some((self.decode(id, &e.value)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Task>, QueueError> {
        Ok(self.entry(id).await?.map(|(t, _)| t))
    }

    /// Writes a new record; `false` when one exists already (kept as it is:
    /// a transcoder may have moved it on).
    pub async fn create(&self, task: &Task) -> Result<bool, QueueError> {
        match self.kv.create(&task.id, self.encode(task)).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(ClusterError::new(format!("record task {}", task.id), e).into()),
        }
    }

    /// Reads, changes and writes back the record of `id`, again from the
    /// start when another node wrote it meanwhile. `None`: no such record.
    pub async fn update(
        &self,
        id: &str,
        change: impl FnMut(&mut Task) -> Change,
    ) -> Result<Option<Task>, QueueError> {
        Ok(self.update_at(id, change).await?.map(|(task, _)| task))
    }

    /// [`Records::update`], also answering the revision the record has
    /// now: a claim's fence (see [`Records::write_fenced`]).
    pub async fn update_at(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Task) -> Change,
    ) -> Result<Option<(Task, u64)>, QueueError> {
        for _ in 0..50 {
            let Some((mut task, revision)) = self.entry(id).await? else {
                return Ok(None);
            };
            if let Change::Keep = change(&mut task) {
                return Ok(Some((task, revision)));
            }
            match self.kv.update(id, self.encode(&task), revision).await {
                Ok(now) => return Ok(Some((task, now))),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(ClusterError::new(format!("update task {id}"), e).into()),
            }
        }
        Err(QueueError::Unavailable(format!("task {id}: too many concurrent updates")))
    }

    /// Changes the record only if it is still at `revision` (the one the
    /// holder's claim, or its last write, left): a fenced write. Answers
    /// the new revision, or `None` when anyone else wrote the record since
    /// (another node claimed the task, or it was removed): the claim is lost.
    pub async fn write_fenced(
        &self,
        id: &str,
        revision: u64,
        change: impl FnOnce(&mut Task),
    ) -> Result<Option<u64>, QueueError> {
        let Some((mut task, now)) = self.entry(id).await? else {
            return Ok(None);
        };
        if now != revision {
            return Ok(None);
        }
        change(&mut task);
        match self.kv.update(id, self.encode(&task), revision).await {
            Ok(next) => Ok(Some(next)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(ClusterError::new(format!("update task {id}"), e).into()),
        }
    }

    pub async fn delete(&self, id: &str) -> Result<(), QueueError> {
        self.kv.purge(id).await.map_err(|e| ClusterError::new(format!("delete task {id}"), e))?;
        Ok(())
    }

    /// Every record (a scan: the bucket holds the tasks cleanup has not
    /// removed yet). Unreadable records are skipped with a warning.
    pub async fn all(&self) -> Result<Vec<Task>, QueueError> {
        let mut keys = self.kv.keys().await.map_err(|e| ClusterError::new("list tasks", e))?;
        let mut ids = Vec::new();
        while let Some(k) = keys.next().await {
            ids.push(k.map_err(|e| ClusterError::new("list tasks", e))?);
        }
        let mut tasks = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get(&id).await {
                Ok(Some(t)) => tasks.push(t),
                Ok(None) => {}
                Err(QueueError::Record { what, source }) => {
                    tracing::warn!(task = %id, error = %source, "{what} cannot be read; skipped")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(tasks)
    }
}

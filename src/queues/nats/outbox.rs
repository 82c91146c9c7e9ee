//! The receiver's outbox: tasks whose upload is complete wait in the local
//! SQLite queue until their parts and log are staged, their record is in the
//! KV bucket and their job is published. Only then is the local copy removed.
//! NATS being away only delays this; a crash anywhere repeats a step, and
//! every step may be repeated (a record that exists is kept, a job published
//! again within the dedup window is the same job).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ClusterError;
use super::connect::Objects;
use super::queue::NatsQueue;
use super::staging::{log_name, part_name};
use crate::pipeline::model::{State, Task};
use crate::pipeline::queue::{ListQuery, TaskStore};

/// Publishes queued local tasks until shutdown.
pub async fn run(q: NatsQueue, shutdown: CancellationToken) {
    loop {
        let woken = q.inner.publish.notified();
        if let Some(o) = q.inner.objects.get() {
            match publish_all(&q, o).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tasks = n, "received recordings handed to the cluster"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot hand received recordings to the cluster yet; trying again");
                    q.set_problem(Some(format!("outbox: {e}")));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = woken => {}
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
    }
}

async fn publish_all(q: &NatsQueue, o: &Objects) -> Result<usize, ClusterError> {
    let waiting = ListQuery { state: Some(State::Queued), limit: 1000, ..Default::default() };
    let page = q.inner.outbox.list(waiting).await.map_err(|e| ClusterError::new("read the outbox", e))?;
    let mut n = 0;
    // Oldest first, as they arrived.
    for task in page.items.iter().rev() {
        publish(q, o, task).await?;
        n += 1;
    }
    if n > 0
        && q.inner
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .is_some_and(|p| p.starts_with("outbox"))
    {
        q.set_problem(None);
    }
    Ok(n)
}

async fn publish(q: &NatsQueue, o: &Objects, task: &Task) -> Result<(), ClusterError> {
    let dir = q.task_dir(&task.id);
    let parts = dir.parts().unwrap_or_default();
    // No parts here means they were staged and removed before a crash.
    if !parts.is_empty() {
        for (i, part) in parts.iter().enumerate() {
            o.staging.put(&part_name(&task.id, i), part).await.map_err(|e| ClusterError::new("stage", e))?;
        }
        dir.log().line(format!("received on {}, staged in {}", q.inner.node, o.staging.describe()));
        o.staging
            .put(&log_name(&task.id), &dir.log_path())
            .await
            .map_err(|e| ClusterError::new("stage", e))?;
    }
    o.records.create(task).await.map_err(|e| ClusterError::new(format!("record task {}", task.id), e))?;
    // Staged and recorded: the received copy may go now.
    dir.remove().map_err(|e| ClusterError::new(format!("remove {}", dir.path().display()), e))?;
    q.publish_job(o, &task.id, &task.id).await?;
    q.inner.outbox.delete(&task.id).await.map_err(|e| ClusterError::new("update the outbox", e))?;
    tracing::info!(task = %task.id, session = %task.session_id, parts = parts.len(), "task staged and published");
    Ok(())
}

//! The daily cleanup: removes the directories (log, metadata, MP4 copy) and
//! records of tasks that finished (`done`) more than
//! `VIDEO_WORKER_CLEAN_PERIOD` days ago. It never touches unfinished tasks,
//! and it keeps `failed` tasks, whose recording may still be evidence,
//! until an admin retries or removes them.

use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler};

use super::Pipeline;
use super::model::now_ms;

/// Removes what is due and returns the ids removed.
pub async fn run_once(pipeline: &Pipeline) -> Vec<String> {
    let period_days = pipeline.settings.clean_period_days;
    let period_ms = i64::from(period_days) * 24 * 3600 * 1000;
    let due = match pipeline.queue.done_before(now_ms() - period_ms).await {
        Ok(tasks) => tasks,
        Err(e) => {
            tracing::error!(error = %e, "cleanup cannot read the task store");
            return vec![];
        }
    };
    let mut removed = Vec::new();
    for task in due {
        let dir = pipeline.task_dir(&task.id);
        if let Err(e) = dir.remove() {
            tracing::warn!(task = %task.id, dir = %dir.path().display(), error = %e, "cleanup cannot remove the task directory");
            continue;
        }
        if let Err(e) = pipeline.queue.delete(&task.id).await {
            tracing::warn!(task = %task.id, error = %e, "cleanup cannot remove the task record");
            continue;
        }
        tracing::info!(task = %task.id, session = %task.session_id, "cleanup removed a finished task");
        removed.push(task.id);
    }
    let orphans = remove_orphans(pipeline, period_ms).await;
    tracing::info!(removed = removed.len(), orphans, period_days, "cleanup finished");
    removed
}

/// Removes task directories older than the period whose task has no record
/// any more: in a cluster the node that ran cleanup first removed the record,
/// and the other nodes still hold a directory of that task (a transcoder's
/// copy, a receiver's part of a shared gateway task).
async fn remove_orphans(pipeline: &Pipeline, period_ms: i64) -> usize {
    let Ok(entries) = std::fs::read_dir(&pipeline.settings.tasks_dir) else { return 0 };
    let period = std::time::Duration::from_millis(period_ms.max(0) as u64);
    let mut n = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() >= period);
        if !old || !super::model::is_safe_id(&name) || !entry.path().is_dir() {
            continue;
        }
        if let Ok(None) = pipeline.queue.get(&name).await
            && pipeline.task_dir(&name).remove().is_ok()
        {
            tracing::info!(task = %name, "cleanup removed the directory of a task that has no record");
            n += 1;
        }
    }
    n
}

/// Schedules [`run_once`] with the configured cron expression (daily 03:00 UTC by default).
pub async fn schedule(pipeline: Arc<Pipeline>, schedule: &str) -> Result<JobScheduler, String> {
    let scheduler = JobScheduler::new().await.map_err(|e| e.to_string())?;
    let job = Job::new_async(schedule, move |_, _| {
        let pipeline = pipeline.clone();
        Box::pin(async move {
            run_once(&pipeline).await;
        })
    })
    .map_err(|e| format!("VIDEO_WORKER_CLEAN_SCHEDULE={schedule:?} is not a valid cron expression: {e}"))?;
    scheduler.add(job).await.map_err(|e| e.to_string())?;
    scheduler.start().await.map_err(|e| e.to_string())?;
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::{Origin, State, Task, new_task_id, today};
    use crate::pipeline::testing::Harness;

    #[tokio::test]
    async fn directories_without_a_record_go_once_old_and_others_stay() {
        let h = Harness::with(|s| s.clean_period_days = 0);
        let orphan = new_task_id();
        h.pipeline.task_dir(&orphan).create().unwrap();
        let kept =
            Task { state: State::Queued, ..Task::receiving(&new_task_id(), "s", Origin::Api, today()) };
        h.pipeline.queue.insert(kept.clone()).await.unwrap();
        h.pipeline.task_dir(&kept.id).create().unwrap();
        run_once(&h.pipeline).await;
        assert!(!h.pipeline.task_dir(&orphan).path().exists(), "no record: removed");
        assert!(h.pipeline.task_dir(&kept.id).path().exists(), "an unfinished task keeps its directory");
    }
}

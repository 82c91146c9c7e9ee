//! The daily cleanup: removes the directories (log, metadata, MP4 copy) and
//! records of tasks that finished (`done`) more than
//! `VIDEO_WORKER_CLEAN_PERIOD` days ago. It never touches unfinished tasks,
//! and it keeps `failed` tasks, whose recording may still be evidence,
//! until an admin retries or removes them.

use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler};

use crate::service::app::App;
use crate::tasks::model::now_ms;

/// Removes what is due and returns the ids removed.
pub fn run_once(app: &App) -> Vec<String> {
    let period_ms = i64::from(app.config.clean_period_days) * 24 * 3600 * 1000;
    let due = match app.store.done_before(now_ms() - period_ms) {
        Ok(tasks) => tasks,
        Err(e) => {
            tracing::error!(error = %e, "cleanup cannot read the task store");
            return vec![];
        }
    };
    let mut removed = Vec::new();
    for task in due {
        let dir = app.task_dir(&task.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(task = %task.id, dir = %dir.display(), error = %e, "cleanup cannot remove the task directory");
                continue;
            }
        }
        if let Err(e) = app.store.delete(&task.id) {
            tracing::warn!(task = %task.id, error = %e, "cleanup cannot remove the task record");
            continue;
        }
        tracing::info!(task = %task.id, session = %task.session_id, "cleanup removed a finished task");
        removed.push(task.id);
    }
    tracing::info!(removed = removed.len(), period_days = app.config.clean_period_days, "cleanup finished");
    removed
}

/// Schedules [`run_once`] with the configured cron expression (daily 03:00 UTC by default).
pub async fn schedule(app: Arc<App>) -> Result<JobScheduler, String> {
    let scheduler = JobScheduler::new().await.map_err(|e| e.to_string())?;
    let schedule = app.config.clean_schedule.clone();
    let job = Job::new_async(schedule.as_str(), move |_, _| {
        let app = app.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || run_once(&app)).await;
        })
    })
    .map_err(|e| format!("VIDEO_WORKER_CLEAN_SCHEDULE={schedule:?} is not a valid cron expression: {e}"))?;
    scheduler.add(job).await.map_err(|e| e.to_string())?;
    scheduler.start().await.map_err(|e| e.to_string())?;
    Ok(scheduler)
}

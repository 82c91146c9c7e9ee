//! The bounded worker pool: at most `VIDEO_WORKER_COUNT` tasks convert at
//! once, oldest first. A task is claimed only when a worker is free, so the
//! queue order holds and accepting uploads never waits for the pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::service::app::App;
use crate::tasks::process;

/// Runs until shutdown; then waits up to the grace period for running
/// conversions and returns (what is left stays queued in the store).
pub async fn run(app: Arc<App>) {
    let slots = Arc::new(Semaphore::new(app.config.workers));
    let mut running = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = app.shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let claimed = match app.store.claim_next() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the task queue");
                None
            }
        };
        let Some(task) = claimed else {
            drop(permit);
            wait_for_work(&app).await;
            continue;
        };
        let app2 = app.clone();
        app.busy.fetch_add(1, Ordering::Relaxed);
        running.spawn(async move {
            process::run(app2.clone(), task).await;
            app2.busy.fetch_sub(1, Ordering::Relaxed);
            app2.wake.notify_one();
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    drain(&app, running).await;
}

/// Sleeps until a task is announced, the next retry is due, or shutdown.
async fn wait_for_work(app: &App) {
    let due = app.store.next_due_in().ok().flatten().unwrap_or(60_000);
    let nap = Duration::from_millis(due.clamp(50, 60_000) as u64);
    tokio::select! {
        _ = app.shutdown.cancelled() => {}
        _ = app.wake.notified() => {}
        _ = tokio::time::sleep(nap) => {}
    }
}

async fn drain(app: &App, mut running: JoinSet<()>) {
    while running.try_join_next().is_some() {}
    let grace = Duration::from_secs(app.config.shutdown_grace_seconds);
    if !running.is_empty() {
        tracing::info!(running = running.len(), grace_s = grace.as_secs(), "waiting for running conversions");
    }
    let all_done = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        tracing::warn!("grace period over: unfinished conversions resume at the next start");
    }
}

//! The bounded worker pool: at most `VIDEO_WORKER_COUNT` tasks convert at
//! once, oldest first. A task is claimed only when a worker is free, so the
//! queue order holds (and, on a shared queue, the load spreads by capacity)
//! and accepting uploads never waits for the pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::Pipeline;
use super::process;

/// Longest wait for work in one call to the queue (shutdown interrupts it).
const POLL: Duration = Duration::from_secs(60);

/// Runs until shutdown; then waits up to the grace period for running
/// conversions and returns (what is left resumes at the next start).
pub async fn run(pipeline: Arc<Pipeline>) {
    let slots = Arc::new(Semaphore::new(pipeline.settings.workers));
    let mut running = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = pipeline.shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        // Not raced against shutdown: `next` stops waiting by itself, and a
        // task it has claimed is converted (within the grace period).
        let next = pipeline.queue.next(&pipeline.settings.name, POLL, &pipeline.shutdown).await;
        let lease = match next {
            Ok(Some(lease)) => lease,
            Ok(None) if pipeline.shutdown.is_cancelled() => break,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the task queue; trying again shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let pipeline2 = pipeline.clone();
        pipeline.status.busy.fetch_add(1, Ordering::Relaxed);
        running.spawn(async move {
            process::run(&pipeline2, lease).await;
            pipeline2.status.busy.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    drain(&pipeline, running).await;
}

async fn drain(pipeline: &Pipeline, mut running: JoinSet<()>) {
    while running.try_join_next().is_some() {}
    let grace = pipeline.settings.shutdown_grace;
    if !running.is_empty() {
        tracing::info!(running = running.len(), grace_s = grace.as_secs(), "waiting for running conversions");
    }
    let all_done = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        tracing::warn!(
            "grace period over: unfinished conversions are handed back (or resume at the next start)"
        );
        if let Err(e) = pipeline.queue.hand_back().await {
            tracing::warn!(error = %e, "cannot hand the unfinished work back; it is offered again after the ack wait");
        }
    }
}

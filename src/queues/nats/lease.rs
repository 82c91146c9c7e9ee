//! A transcoder's hold on one job. While it lives it tells the server the
//! job is in progress every third of the ack wait, so a long conversion is
//! never handed to a second node; a transcoder that dies stops telling, and
//! the job goes to another one when the ack wait runs out.
//!
//! Every write of the attempt is fenced: it is made only while the record
//! is still at the revision the claim (or the attempt's last write) left.
//! A node cut off for longer than the ack wait finds, at its next write,
//! that another node claimed the task: it writes nothing more (no
//! progress, no outputs, no done or failed), tells nobody, and its job is
//! not acknowledged (the other node holds it now).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};

use super::queue::NatsQueue;
use super::staging::{log_name, part_name};
use crate::pipeline::model::{Output, State, Task, now_ms};
use crate::pipeline::queue::{Lease, Outcome, QueueError, QueueFuture};

pub struct NatsLease {
    queue: NatsQueue,
    task: Task,
    msg: Arc<jetstream::Message>,
    keepalive: tokio::task::AbortHandle,
    /// The record's revision after this attempt's last write (its fence);
    /// the lock keeps the heartbeat and the attempt's own writes in order.
    revision: tokio::sync::Mutex<u64>,
    lost: std::sync::atomic::AtomicBool,
}

impl NatsLease {
    pub(super) fn new(queue: NatsQueue, task: Task, revision: u64, msg: jetstream::Message) -> NatsLease {
        let msg = Arc::new(msg);
        let every = (queue.inner.ack_wait / 3).max(Duration::from_millis(500));
        let keepalive = tokio::spawn({
            let (msg, id) = (msg.clone(), task.id.clone());
            async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::warn!(task = %id, error = %e, "cannot tell NATS the task is in progress");
                    }
                }
            }
        })
        .abort_handle();
        queue.inner.held.lock().unwrap_or_else(|e| e.into_inner()).insert(task.id.clone(), msg.clone());
        let (revision, lost) = (tokio::sync::Mutex::new(revision), std::sync::atomic::AtomicBool::new(false));
        NatsLease { queue, task, msg, keepalive, revision, lost }
    }

    /// A fenced write: refused once another node wrote the record.
    async fn update(&self, change: impl FnOnce(&mut Task)) -> Result<(), QueueError> {
        let mut revision = self.revision.lock().await;
        if self.is_lost() {
            return Err(QueueError::LostClaim(self.task.id.clone()));
        }
        match self.queue.objects()?.records.write_fenced(&self.task.id, *revision, change).await? {
            Some(next) => {
                *revision = next;
                Ok(())
            }
            None => {
                self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
                self.keepalive.abort();
                tracing::warn!(task = %self.task.id, node = %self.queue.inner.node, "the claim on the task was lost to another node: this attempt writes nothing more");
                Err(QueueError::LostClaim(self.task.id.clone()))
            }
        }
    }

    /// Keeps the task's log with the task (every node's `/log` reads it).
    async fn stage_log(&self) {
        let Ok(o) = self.queue.objects() else { return };
        let path = self.queue.task_dir(&self.task.id).log_path();
        if path.is_file()
            && let Err(e) = o.staging.put(&log_name(&self.task.id), &path).await
        {
            tracing::warn!(task = %self.task.id, error = %e, "cannot keep the task log in the cluster");
        }
    }

    async fn finish(self: Box<Self>, outcome: Outcome) -> Result<(), QueueError> {
        let now = now_ms();
        let (state, ack) = match &outcome {
            Outcome::Done { .. } => (State::Done, AckKind::Ack),
            Outcome::Failed { .. } => (State::Failed, AckKind::Term),
            Outcome::Retry { delay_ms, .. } => {
                (State::Queued, AckKind::Nak(Some(Duration::from_millis((*delay_ms).max(0) as u64))))
            }
        };
        let written = self
            .update(|t| {
                t.state = state;
                t.updated_at = now;
                match &outcome {
                    Outcome::Done { outputs, note } => {
                        t.outputs = outputs.clone();
                        t.last_error = note.clone();
                        t.progress = 1.0;
                        t.finished_at = Some(now);
                    }
                    Outcome::Failed { error } => {
                        t.last_error = Some(error.clone());
                        t.finished_at = Some(now);
                    }
                    Outcome::Retry { error, delay_ms } => {
                        t.last_error = Some(error.clone());
                        t.next_attempt_at = now + delay_ms;
                    }
                }
            })
            .await;
        // A lost claim leaves the job to its new holder: no ack, no nak
        // (dropping the lease stops its keepalive).
        written?;
        self.stage_log().await;
        if state == State::Done {
            // The outputs are stored and core was told: only now does the
            // staged recording go.
            let o = self.queue.objects()?;
            for i in 0..self.task.input_parts as usize {
                if let Err(e) = o.staging.delete(&part_name(&self.task.id, i)).await {
                    tracing::warn!(task = %self.task.id, error = %e, "cannot remove a staged part");
                }
            }
        }
        self.keepalive.abort();
        self.queue.inner.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.task.id);
        let acked =
            if let AckKind::Ack = ack { self.msg.double_ack().await } else { self.msg.ack_with(ack).await };
        acked.map_err(|e| {
            QueueError::Unavailable(format!("NATS: settle the job of task {}: {e}", self.task.id))
        })
    }
}

impl Drop for NatsLease {
    fn drop(&mut self) {
        self.keepalive.abort();
        self.queue.inner.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.task.id);
    }
}

impl Lease for NatsLease {
    fn task(&self) -> &Task {
        &self.task
    }

    fn progress(&self, fraction: f64) -> QueueFuture<'_, ()> {
        Box::pin(self.update(move |t| {
            t.progress = fraction;
            t.updated_at = now_ms();
        }))
    }

    fn uploading<'a>(&'a self, outputs: &'a [Output]) -> QueueFuture<'a, ()> {
        Box::pin(self.update(move |t| {
            t.state = State::Uploading;
            t.outputs = outputs.to_vec();
            t.updated_at = now_ms();
        }))
    }

    fn settle(self: Box<Self>, outcome: Outcome) -> QueueFuture<'static, ()> {
        Box::pin(self.finish(outcome))
    }

    fn confirm(&self) -> QueueFuture<'_, ()> {
        Box::pin(self.update(|t| t.updated_at = now_ms()))
    }

    fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
}

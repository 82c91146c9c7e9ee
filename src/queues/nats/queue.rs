//! [`NatsQueue`]: the [`Queue`] seam on JetStream. Records live in the KV
//! bucket; work is a job message per task on the work-queue stream; a
//! recording received here waits in a local outbox (a SQLite queue in
//! `DATA_DIR`) until it is staged and its job published, so a receiver keeps
//! accepting while NATS is away.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, OnceCell};
use tokio_util::sync::CancellationToken;

use super::connect::{Objects, objects};
use super::lease::NatsLease;
use super::records::Change;
use super::staging::{Staging, log_name, part_name};
use super::{ClusterError, SUBJECT};
use crate::config::Cluster;
use crate::pipeline::model::{State, Task, now_ms};
use crate::pipeline::queue::{
    GatewayParts, Lease, ListQuery, Outcome, Page, QueueError, QueueFuture, QueueHealth, Received, Recovery,
    TaskStore, WorkQueue,
};
use crate::pipeline::task_dir::TaskDir;
use crate::queues::sqlite::SqliteQueue;
use crate::seal::Key;

/// A job on the stream: which task to convert.
#[derive(Serialize, Deserialize)]
pub(super) struct Job {
    pub task: String,
}

/// Where the queue's own loops run: stopped by `shutdown`, waited for
/// through `tracker`.
pub struct Background {
    pub shutdown: CancellationToken,
    pub tracker: tokio_util::task::TaskTracker,
}

#[derive(Clone)]
pub struct NatsQueue {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// Tasks received on this node and not yet handed to the cluster.
    pub(super) outbox: SqliteQueue,
    pub(super) tasks_dir: PathBuf,
    pub(super) objects: OnceCell<Objects>,
    ready: Notify,
    pub(super) client: async_nats::Client,
    pub(super) ack_wait: Duration,
    /// Why the cluster cannot be used now (health: degraded).
    pub(super) problem: Mutex<Option<String>>,
    /// Wakes the outbox publisher.
    pub(super) publish: Notify,
    /// This node's `NAME`.
    pub(super) node: String,
    /// Jobs this node holds now, by task id (handed back at shutdown).
    pub(super) held: Mutex<HashMap<String, Arc<jetstream::Message>>>,
    urls: String,
}

impl NatsQueue {
    /// Connects (in the background: a node starts while NATS is away), makes
    /// the JetStream objects once NATS answers, and publishes the outbox.
    pub async fn start(
        cluster: &Cluster,
        node: &str,
        outbox: SqliteQueue,
        tasks_dir: PathBuf,
        key: Option<Arc<Key>>,
        staging: Option<Arc<dyn Staging>>,
        background: Background,
    ) -> Result<NatsQueue, ClusterError> {
        let Background { shutdown, tracker } = background;
        let client = super::connect(cluster, node).await?;
        let q = NatsQueue {
            inner: Arc::new(Inner {
                outbox,
                tasks_dir,
                objects: OnceCell::new(),
                ready: Notify::new(),
                client,
                ack_wait: cluster.ack_wait,
                problem: Mutex::new(Some("connecting to NATS".into())),
                publish: Notify::new(),
                node: node.to_string(),
                held: Mutex::new(HashMap::new()),
                urls: cluster.urls.join(","),
            }),
        };
        tracker.spawn(q.clone().prepare(cluster.clone(), key, staging, shutdown.clone()));
        tracker.spawn(super::outbox::run(q.clone(), shutdown));
        Ok(q)
    }

    /// Makes the stream, consumer and buckets, again until NATS answers.
    async fn prepare(
        self,
        cluster: Cluster,
        key: Option<Arc<Key>>,
        staging: Option<Arc<dyn Staging>>,
        shutdown: CancellationToken,
    ) {
        let mut logged = false;
        loop {
            match objects(&self.inner.client, &cluster, key.clone(), staging.clone()).await {
                Ok(o) => {
                    let _ = self.inner.objects.set(o);
                    self.set_problem(None);
                    self.inner.ready.notify_waiters();
                    self.inner.publish.notify_one();
                    tracing::info!(servers = %self.inner.urls, "cluster queue ready on NATS JetStream");
                    return;
                }
                Err(e) => {
                    if !logged {
                        tracing::error!(error = %e, "the cluster queue is not ready; recordings wait here meanwhile");
                        logged = true;
                    }
                    self.set_problem(Some(e.to_string()));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    pub(super) fn set_problem(&self, p: Option<String>) {
        *self.inner.problem.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub(super) fn objects(&self) -> Result<&Objects, QueueError> {
        self.inner.objects.get().ok_or_else(|| {
            QueueError::Unavailable(format!("NATS ({}) is not reachable yet", self.inner.urls))
        })
    }

    /// Waits until the JetStream objects exist, up to `wait` or `stop`.
    pub(super) async fn ready(&self, wait: Duration, stop: &CancellationToken) -> Option<&Objects> {
        let deadline = Instant::now() + wait;
        loop {
            let woken = self.inner.ready.notified();
            if let Some(o) = self.inner.objects.get() {
                return Some(o);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stop.is_cancelled() {
                return None;
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(left) => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    pub(super) fn task_dir(&self, id: &str) -> TaskDir {
        TaskDir::new(&self.inner.tasks_dir, id)
    }

    /// Publishes the job of `id`; `msg_id` makes a retried publish the same job.
    pub(super) async fn publish_job(&self, o: &Objects, id: &str, msg_id: &str) -> Result<(), ClusterError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id);
        let payload = serde_json::to_vec(&Job { task: id.to_string() }).unwrap_or_default();
        let ack =
            o.js.publish_with_headers(SUBJECT, headers, payload.into())
                .await
                .map_err(|e| ClusterError::new(format!("publish the job of task {id}"), e))?;
        ack.await.map_err(|e| ClusterError::new(format!("publish the job of task {id}"), e))?;
        Ok(())
    }

    /// The JetStream objects while NATS is connected.
    fn reachable(&self) -> Option<&Objects> {
        use async_nats::connection::State as Conn;
        let o = self.inner.objects.get()?;
        (self.inner.client.connection_state() == Conn::Connected).then_some(o)
    }

    fn reachable_or_err(&self) -> Result<&Objects, QueueError> {
        self.reachable()
            .ok_or_else(|| QueueError::Unavailable(format!("NATS ({}) is not connected", self.inner.urls)))
    }

    /// Every task: the cluster's records, and this node's unpublished ones.
    /// While NATS is away, only this node's (health says degraded).
    async fn all(&self) -> Result<Vec<Task>, QueueError> {
        let all_local = ListQuery { limit: 1_000_000, ..Default::default() };
        let local = self.inner.outbox.list(all_local).await?.items;
        let Some(o) = self.reachable() else {
            return Ok(local);
        };
        let mut tasks = match o.records.all().await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the cluster's tasks; showing this node's");
                return Ok(local);
            }
        };
        let known: HashSet<String> = tasks.iter().map(|t| t.id.clone()).collect();
        tasks.extend(local.into_iter().filter(|t| !known.contains(&t.id)));
        Ok(tasks)
    }

    async fn get_task(&self, id: &str) -> Result<Option<Task>, QueueError> {
        if let Some(t) = self.inner.outbox.get(id).await? {
            // Not handed over yet, or being handed over: the cluster's record
            // is the newer one once it exists.
            if let Some(o) = self.reachable()
                && let Ok(Some(shared)) = o.records.get(id).await
            {
                return Ok(Some(shared));
            }
            return Ok(Some(t));
        }
        match self.reachable() {
            Some(o) => o.records.get(id).await,
            None => Err(QueueError::Unavailable(format!("NATS ({}) is not connected", self.inner.urls))),
        }
    }

    async fn next_job(
        &self,
        worker: &str,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Option<Box<dyn Lease>>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(o) = self.ready(left, stop).await else {
                return Ok(None);
            };
            // Short fetches, not raced against `stop`: a message the server
            // sent is always taken, and a stop waits at most one fetch.
            let expires = left.clamp(Duration::from_millis(200), Duration::from_secs(2));
            match o.consumer.fetch().max_messages(1).expires(expires).messages().await {
                Ok(mut batch) => {
                    if let Some(Ok(msg)) = batch.next().await
                        && let Some(lease) = self.claim(o, msg, worker).await
                    {
                        return Ok(Some(lease));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot fetch a job");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            if stop.is_cancelled() || Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Takes the task of a delivered job: its record marked converting by
    /// `worker`, its staged input downloaded. `None` when there is nothing
    /// to do (the task is gone or finished: the job is acknowledged).
    async fn claim(&self, o: &Objects, msg: jetstream::Message, worker: &str) -> Option<Box<dyn Lease>> {
        let Ok(job) = serde_json::from_slice::<Job>(&msg.payload) else {
            tracing::warn!("a job that is not video-worker's was dropped");
            let _ = msg.ack_with(jetstream::AckKind::Term).await;
            return None;
        };
        let claimed = o
            .records
            .update_at(&job.task, |t| {
                if t.state.is_finished() {
                    return Change::Keep;
                }
                t.state = State::Converting;
                t.attempts += 1;
                t.worker = Some(worker.to_string());
                t.progress = 0.0;
                t.updated_at = now_ms();
                Change::Write
            })
            .await;
        let (task, revision) = match claimed {
            Ok(Some((t, revision))) if !t.state.is_finished() => (t, revision),
            Ok(found) => {
                let why = if found.is_some() { "finished" } else { "removed" };
                tracing::info!(task = %job.task, "a job for a {why} task was acknowledged");
                let _ = msg.double_ack().await;
                return None;
            }
            Err(e) => {
                tracing::warn!(task = %job.task, error = %e, "cannot claim the task; it is offered again");
                let _ = msg.ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(2)))).await;
                return None;
            }
        };
        let lease = NatsLease::new(self.clone(), task, revision, msg);
        match self.fetch_input(o, lease.task()).await {
            Ok(()) => Some(Box::new(lease)),
            Err(Fetch::Missing(name)) => {
                let error = format!("the staged recording is gone ({name} in {})", o.staging.describe());
                tracing::error!(task = %lease.task().id, %error, "task failed");
                let _ = Box::new(lease).settle(Outcome::Failed { error }).await;
                None
            }
            Err(Fetch::Failed(e)) => {
                let error = format!("cannot download the staged recording: {e}");
                tracing::warn!(task = %lease.task().id, %error, "task will retry");
                let _ = Box::new(lease).settle(Outcome::Retry { error, delay_ms: 5_000 }).await;
                None
            }
        }
    }

    /// Brings the task's staged parts (and its log so far) into its directory.
    async fn fetch_input(&self, o: &Objects, task: &Task) -> Result<(), Fetch> {
        let dir = self.task_dir(&task.id);
        for i in 0..task.input_parts as usize {
            let part = dir.part(i);
            if part.is_file() {
                continue;
            }
            let name = part_name(&task.id, i);
            match o.staging.get(&name, &part).await {
                Ok(true) => {}
                Ok(false) => return Err(Fetch::Missing(name)),
                Err(e) => return Err(Fetch::Failed(e.to_string())),
            }
        }
        if !dir.log_path().is_file() {
            let _ = o.staging.get(&log_name(&task.id), &dir.log_path()).await;
        }
        Ok(())
    }
}

enum Fetch {
    Missing(String),
    Failed(String),
}

/// One page of `tasks` for `q`, newest first (ids are time-ordered).
fn page_of(mut tasks: Vec<Task>, q: &ListQuery) -> Page {
    tasks.retain(|t| {
        q.state.is_none_or(|s| t.state == s)
            && q.session.as_deref().is_none_or(|s| t.session_id.starts_with(s))
            && q.cursor.as_deref().is_none_or(|c| t.id.as_str() < c)
    });
    tasks.sort_by(|a, b| b.id.cmp(&a.id));
    let next = if tasks.len() > q.limit {
        tasks.truncate(q.limit);
        tasks.last().map(|t| t.id.clone())
    } else {
        None
    };
    Page { items: tasks, next }
}

impl TaskStore for NatsQueue {
    fn insert(&self, task: Task) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            // A gateway's parts may reach other nodes (several behind one
            // address): its task is shared from the start when NATS is here.
            if task.origin.is_gateway()
                && let Some(o) = self.reachable()
            {
                match o.records.create(&task).await {
                    Ok(_) => return Ok(()),
                    Err(e) => tracing::warn!(task = %task.id, error = %e, "gateway task kept on this node"),
                }
            }
            self.inner.outbox.insert(task).await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> QueueFuture<'a, Option<Task>> {
        Box::pin(self.get_task(id))
    }

    fn list(&self, query: ListQuery) -> QueueFuture<'_, Page> {
        Box::pin(async move { Ok(page_of(self.all().await?, &query)) })
    }

    fn counts(&self) -> QueueFuture<'_, Vec<(State, u64)>> {
        Box::pin(async move {
            let all = self.all().await?;
            Ok(State::ALL.iter().map(|s| (*s, all.iter().filter(|t| t.state == *s).count() as u64)).collect())
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> QueueFuture<'a, ()> {
        Box::pin(async move {
            self.inner.outbox.delete(id).await?;
            if let Ok(o) = self.objects() {
                if let Some(t) = o.records.get(id).await? {
                    let arrived = t.parts_arrived.iter().map(|(i, _)| *i as usize);
                    let indexes: std::collections::BTreeSet<usize> =
                        (0..t.input_parts as usize).chain(arrived).collect();
                    for i in indexes {
                        let _ = o.staging.delete(&part_name(id, i)).await;
                    }
                }
                let _ = o.staging.delete(&log_name(id)).await;
                o.records.delete(id).await?;
            }
            Ok(())
        })
    }

    fn done_before(&self, before: i64) -> QueueFuture<'_, Vec<Task>> {
        Box::pin(async move {
            let o = self.objects()?;
            let all = o.records.all().await?;
            Ok(all
                .into_iter()
                .filter(|t| t.state == State::Done && t.finished_at.is_some_and(|f| f < before))
                .collect())
        })
    }

    fn inbox_file_taken<'a>(&'a self, path: &'a str) -> QueueFuture<'a, bool> {
        Box::pin(async move {
            if self.inner.outbox.inbox_file_taken(path).await? {
                return Ok(true);
            }
            // Any record of the file counts, finished or not: a transcoder on
            // another machine may not reach this inbox to move the file away.
            let Ok(o) = self.objects() else {
                return Err(QueueError::Unavailable("cannot look up inbox files while NATS is away".into()));
            };
            Ok(o.records.all().await?.iter().any(|t| t.origin.inbox_path() == Some(path)))
        })
    }

    fn archived_log<'a>(&'a self, id: &'a str) -> QueueFuture<'a, Option<String>> {
        Box::pin(async move {
            let o = self.objects()?;
            let tmp = tempfile_in(&self.inner.tasks_dir, id);
            let got = o
                .staging
                .get(&log_name(id), &tmp)
                .await
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
            let text = if got { tokio::fs::read_to_string(&tmp).await.ok() } else { None };
            let _ = tokio::fs::remove_file(&tmp).await;
            Ok(text)
        })
    }
}

impl WorkQueue for NatsQueue {
    fn enqueue<'a>(&'a self, id: &'a str, received: Received) -> QueueFuture<'a, ()> {
        Box::pin(async move {
            if self.inner.outbox.get(id).await?.is_some() {
                self.inner.outbox.enqueue(id, received).await?;
                self.inner.publish.notify_one();
                return Ok(());
            }
            // A shared task: its parts are staged already.
            let o = self.reachable_or_err()?;
            o.records
                .update(id, |t| {
                    t.state = State::Queued;
                    t.session_id = received.session_id.clone();
                    (t.input_parts, t.input_bytes) = (received.parts, received.bytes);
                    if let Some(m) = &received.metadata {
                        t.metadata = m.clone();
                    }
                    t.updated_at = now_ms();
                    Change::Write
                })
                .await?
                .ok_or_else(|| QueueError::Unavailable(format!("task {id} was removed meanwhile")))?;
            self.publish_job(o, id, id).await?;
            Ok(())
        })
    }

    fn next<'a>(
        &'a self,
        worker: &'a str,
        wait: Duration,
        stop: &'a CancellationToken,
    ) -> QueueFuture<'a, Option<Box<dyn Lease>>> {
        Box::pin(self.next_job(worker, wait, stop))
    }

    fn requeue_failed<'a>(&'a self, id: &'a str) -> QueueFuture<'a, bool> {
        Box::pin(async move {
            let o = self.objects()?;
            let mut was_failed = false;
            let changed = o
                .records
                .update(id, |t| {
                    was_failed = t.state == State::Failed;
                    if !was_failed {
                        return Change::Keep;
                    }
                    t.state = State::Queued;
                    t.attempts = 0;
                    t.finished_at = None;
                    t.next_attempt_at = 0;
                    t.updated_at = now_ms();
                    Change::Write
                })
                .await?;
            if changed.is_none() || !was_failed {
                return Ok(false);
            }
            self.publish_job(o, id, &format!("{id}.requeued.{}", now_ms())).await?;
            Ok(true)
        })
    }

    fn recover(&self) -> QueueFuture<'_, Recovery> {
        Box::pin(async move {
            let r = self.inner.outbox.recover().await?;
            self.inner.publish.notify_one();
            Ok(r)
        })
    }

    fn hand_back(&self) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            let held: Vec<(String, Arc<jetstream::Message>)> =
                self.inner.held.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
            for (id, msg) in held {
                if let Ok(o) = self.objects() {
                    let _ = o
                        .records
                        .update(&id, |t| {
                            t.state = State::Queued;
                            t.last_error = Some(format!("handed back by {} at shutdown", self.inner.node));
                            t.updated_at = now_ms();
                            Change::Write
                        })
                        .await;
                }
                msg.ack_with(jetstream::AckKind::Nak(None))
                    .await
                    .map_err(|e| ClusterError::new(format!("hand back task {id}"), e))?;
                tracing::info!(task = %id, "job handed back to the cluster");
            }
            Ok(())
        })
    }
}

impl GatewayParts for NatsQueue {
    fn set_received<'a>(&'a self, id: &'a str, parts: u32, bytes: u64) -> QueueFuture<'a, ()> {
        Box::pin(async move {
            if self.inner.outbox.get(id).await?.is_some() {
                return self.inner.outbox.set_received(id, parts, bytes).await;
            }
            let o = self.reachable_or_err()?;
            o.records
                .update(id, |t| {
                    (t.input_parts, t.input_bytes, t.updated_at) = (parts, bytes, now_ms());
                    Change::Write
                })
                .await?;
            Ok(())
        })
    }

    fn idle_receiving(&self, before: i64) -> QueueFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut ids = self.inner.outbox.idle_receiving(before).await?;
            if let Some(o) = self.reachable()
                && let Ok(all) = o.records.all().await
            {
                ids.extend(
                    all.into_iter()
                        .filter(|t| t.state == State::Receiving && t.updated_at < before)
                        .map(|t| t.id),
                );
            }
            Ok(ids)
        })
    }

    fn part_received<'a>(
        &'a self,
        id: &'a str,
        index: u32,
        path: &'a std::path::Path,
        size: u64,
    ) -> QueueFuture<'a, Option<Vec<(u32, u64)>>> {
        Box::pin(async move {
            if self.inner.outbox.get(id).await?.is_some() {
                return Ok(None);
            }
            let o = self.reachable_or_err()?;
            let name = part_name(id, index as usize);
            o.staging.put(&name, path).await.map_err(|e| QueueError::Unavailable(e.to_string()))?;
            let task = o
                .records
                .update(id, |t| {
                    t.parts_arrived.retain(|(i, _)| *i != index);
                    t.parts_arrived.push((index, size));
                    t.parts_arrived.sort();
                    t.input_parts = t.parts_arrived.len() as u32;
                    t.input_bytes = t.parts_arrived.iter().map(|(_, n)| n).sum();
                    t.updated_at = now_ms();
                    Change::Write
                })
                .await?
                .ok_or_else(|| QueueError::Unavailable(format!("task {id} was removed meanwhile")))?;
            // Staged: this node keeps no second copy.
            let _ = std::fs::remove_file(path);
            Ok(Some(task.parts_arrived))
        })
    }
}

impl QueueHealth for NatsQueue {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn problem(&self) -> Option<String> {
        use async_nats::connection::State as Conn;
        if self.inner.client.connection_state() != Conn::Connected {
            return Some(format!("NATS ({}) is not connected; recordings wait here", self.inner.urls));
        }
        self.inner.problem.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn unpublished(&self) -> QueueFuture<'_, u64> {
        Box::pin(async move {
            let counts = self.inner.outbox.counts().await?;
            Ok(crate::pipeline::queue::count_of(&counts, State::Queued))
        })
    }
}

/// A scratch file for a download that is not the task's own.
fn tempfile_in(tasks_dir: &std::path::Path, id: &str) -> PathBuf {
    tasks_dir.join(format!(".log-{id}-{:08x}", rand::random::<u32>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::{Origin, today};

    fn task(id: &str, session: &str, state: State) -> Task {
        Task { state, ..Task::receiving(id, session, Origin::Api, today()) }
    }

    #[test]
    fn pages_are_newest_first_and_filtered() {
        let tasks = vec![
            task("a1", "s-1", State::Done),
            task("a3", "s-2", State::Queued),
            task("a2", "x", State::Done),
        ];
        let q = ListQuery { limit: 1, ..Default::default() };
        let p = page_of(tasks.clone(), &q);
        assert_eq!((p.items[0].id.as_str(), p.next.as_deref()), ("a3", Some("a3")));
        let q = ListQuery { limit: 5, cursor: Some("a3".into()), ..Default::default() };
        assert_eq!(
            page_of(tasks.clone(), &q).items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a2", "a1"]
        );
        let q = ListQuery {
            limit: 5,
            state: Some(State::Done),
            session: Some("s-".into()),
            ..Default::default()
        };
        let p = page_of(tasks, &q);
        assert_eq!((p.items.len(), p.items[0].id.as_str(), p.next), (1, "a1", None));
    }
}

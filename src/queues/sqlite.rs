//! The single-node adapter of the queue seam: SQLite in WAL mode with `synchronous=FULL`, one
//! file under `DATA_DIR`. Every state change is one transaction, committed
//! to disk before the change is acted on, so a crash at any moment leaves
//! each task in a state the next start can resume from (see
//! `docs/architecture.md` for why SQLite). Calls run on the blocking pool,
//! never on the async runtime's threads.
//!
//! The origin of a task is stored in typed columns: `source` (api, inbox,
//! gateway), `source_path` (the inbox file) and `gateway_job` (the gateway's
//! announcement, sealed like the metadata). Databases of the first release
//! kept the gateway job inside `metadata`; [`migrate`] moves it out.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::pipeline::gateway_job::GatewayJob;
use crate::pipeline::model::{Origin, Output, State, Task, now_ms};
use crate::pipeline::queue::{
    GatewayParts, Lease, ListQuery, Outcome, Page, QueueError, QueueFuture, QueueHealth, Received, Recovery,
    TaskStore, WorkQueue,
};
use crate::pipeline::sealed_metadata::{from_store, from_store_or_note, to_store};
use crate::seal::Key;

/// A database error, kept as the cause of the seam's error.
impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> QueueError {
        QueueError::Store(Box::new(e))
    }
}

/// The schema version this code writes (`PRAGMA user_version`).
const VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id              TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    progress        REAL NOT NULL DEFAULT 0,
    input_parts     INTEGER NOT NULL DEFAULT 0,
    input_bytes     INTEGER NOT NULL DEFAULT 0,
    outputs         TEXT NOT NULL DEFAULT '[]',
    metadata        TEXT NOT NULL DEFAULT '{}',
    source          TEXT NOT NULL,
    source_path     TEXT,
    session_date    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, next_attempt_at, created_at);
";

const COLUMNS: &str = "id, session_id, state, attempts, last_error, created_at, updated_at, finished_at, \
     next_attempt_at, progress, input_parts, input_bytes, outputs, metadata, source, source_path, session_date, \
     gateway_job, worker";

struct Inner {
    conn: Mutex<Connection>,
    key: Option<Arc<Key>>,
    /// Woken when a task becomes ready, so a waiting worker starts at once.
    wake: Notify,
}

#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
}

impl Inner {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self) -> Option<&Key> {
        self.key.as_deref()
    }

    fn task_from_row(&self, r: &Row) -> rusqlite::Result<Task> {
        let state: String = r.get(2)?;
        let outputs: String = r.get(12)?;
        let metadata: String = r.get(13)?;
        let source: String = r.get(14)?;
        let source_path: Option<String> = r.get(15)?;
        let job: Option<String> = r.get(17)?;
        let origin = match source.as_str() {
            "gateway" => Origin::Gateway { job: self.gateway_job(job.as_deref()).map_err(row_error(17))? },
            "inbox" => Origin::Inbox { path: source_path.unwrap_or_default() },
            _ => Origin::Api,
        };
        Ok(Task {
            id: r.get(0)?,
            session_id: r.get(1)?,
            state: State::parse(&state).unwrap_or(State::Failed),
            attempts: r.get(3)?,
            last_error: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
            finished_at: r.get(7)?,
            next_attempt_at: r.get(8)?,
            progress: r.get(9)?,
            input_parts: r.get(10)?,
            input_bytes: r.get::<_, i64>(11)? as u64,
            outputs: serde_json::from_str(&outputs).unwrap_or_default(),
            metadata: from_store_or_note(&metadata, self.key()),
            origin,
            session_date: r.get(16)?,
            worker: r.get(18)?,
            parts_arrived: vec![],
        })
    }

    fn gateway_job(&self, text: Option<&str>) -> Result<GatewayJob, String> {
        let value = from_store(text.ok_or("the gateway task has no gateway_job")?, self.key())?;
        serde_json::from_value(value).map_err(|e| format!("the gateway_job is not readable: {e}"))
    }

    fn insert(&self, t: &Task) -> rusqlite::Result<()> {
        let job = t
            .origin
            .gateway_job()
            .map(|j| to_store(&serde_json::to_value(j).unwrap_or_default(), self.key()));
        self.conn().execute(
            &format!(
                "INSERT INTO tasks ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
            ),
            params![
                t.id,
                t.session_id,
                t.state.as_str(),
                t.attempts,
                t.last_error,
                t.created_at,
                t.updated_at,
                t.finished_at,
                t.next_attempt_at,
                t.progress,
                t.input_parts,
                t.input_bytes as i64,
                serde_json::to_string(&t.outputs).unwrap_or_else(|_| "[]".into()),
                to_store(&t.metadata, self.key()),
                t.origin.kind(),
                t.origin.inbox_path(),
                t.session_date,
                job,
                t.worker,
            ],
        )?;
        Ok(())
    }

    fn get(&self, id: &str) -> rusqlite::Result<Option<Task>> {
        self.conn()
            .query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [id], |r| self.task_from_row(r))
            .optional()
    }

    fn list(&self, q: &ListQuery) -> rusqlite::Result<Page> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id < ?2) \
             AND (?3 IS NULL OR substr(session_id, 1, length(?3)) = ?3) ORDER BY id DESC LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![q.state.map(State::as_str), q.cursor, q.session, q.limit as i64 + 1], |r| {
                self.task_from_row(r)
            })?;
        let mut items = rows.collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > q.limit {
            items.truncate(q.limit);
            items.last().map(|t| t.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Takes the oldest queued task that is due, marking it converting.
    fn claim_next(&self, worker: &str) -> rusqlite::Result<Option<Task>> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id: Option<String> = tx
            .query_row(
                "SELECT id FROM tasks WHERE state = 'queued' AND next_attempt_at <= ?1 \
                 ORDER BY created_at, id LIMIT 1",
                [now],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE tasks SET state = 'converting', attempts = attempts + 1, updated_at = ?2, worker = ?3 \
             WHERE id = ?1",
            params![id, now, worker],
        )?;
        let task = tx.query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [&id], |r| {
            self.task_from_row(r)
        })?;
        tx.commit()?;
        Ok(Some(task))
    }

    /// Milliseconds until the next queued task is due, if any is queued.
    fn next_due_in(&self) -> rusqlite::Result<Option<i64>> {
        let due: Option<i64> = self.conn().query_row(
            "SELECT MIN(next_attempt_at) FROM tasks WHERE state = 'queued'",
            [],
            |r| r.get(0),
        )?;
        Ok(due.map(|d| (d - now_ms()).max(0)))
    }

    fn update(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<()> {
        self.conn().execute(sql, params)?;
        Ok(())
    }

    fn enqueue(&self, id: &str, r: &Received) -> rusqlite::Result<()> {
        let metadata = r.metadata.as_ref().map(|m| to_store(m, self.key()));
        self.update(
            "UPDATE tasks SET state = 'queued', session_id = ?2, input_parts = ?3, input_bytes = ?4, \
             updated_at = ?5, metadata = COALESCE(?6, metadata) WHERE id = ?1",
            params![id, r.session_id, r.parts, r.bytes as i64, now_ms(), metadata],
        )?;
        self.wake.notify_one();
        Ok(())
    }

    fn settle(&self, id: &str, outcome: &Outcome) -> rusqlite::Result<()> {
        let now = now_ms();
        match outcome {
            Outcome::Done { outputs, note } => self.update(
                "UPDATE tasks SET state = 'done', outputs = ?2, last_error = ?4, updated_at = ?3, \
                 finished_at = ?3 WHERE id = ?1",
                params![id, serde_json::to_string(outputs).unwrap_or_default(), now, note],
            ),
            Outcome::Failed { error } => self.update(
                "UPDATE tasks SET state = 'failed', last_error = ?2, updated_at = ?3, finished_at = ?3 \
                 WHERE id = ?1",
                params![id, error, now],
            ),
            Outcome::Retry { error, delay_ms } => self.update(
                "UPDATE tasks SET state = 'queued', last_error = ?2, updated_at = ?3, next_attempt_at = ?4 \
                 WHERE id = ?1",
                params![id, error, now, now + delay_ms],
            ),
        }
    }

    fn recover(&self) -> rusqlite::Result<Recovery> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids = |state: &str| -> rusqlite::Result<Vec<String>> {
            let mut stmt = tx.prepare("SELECT id FROM tasks WHERE state = ?1")?;
            stmt.query_map([state], |r| r.get(0))?.collect()
        };
        let abandoned_uploads = ids("receiving")?;
        let mut resumed = ids("converting")?;
        resumed.extend(ids("uploading")?);
        tx.execute("DELETE FROM tasks WHERE state = 'receiving'", [])?;
        tx.execute(
            "UPDATE tasks SET state = 'queued', next_attempt_at = 0 WHERE state IN ('converting', 'uploading')",
            [],
        )?;
        tx.commit()?;
        Ok(Recovery { abandoned_uploads, resumed })
    }

    fn counts(&self) -> rusqlite::Result<Vec<(State, u64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT state, COUNT(*) FROM tasks GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut counts: Vec<(State, u64)> = State::ALL.iter().map(|&s| (s, 0)).collect();
        for row in rows {
            let (state, n) = row?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| s.as_str() == state) {
                slot.1 = n as u64;
            }
        }
        Ok(counts)
    }

    fn ids(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params, |r| r.get(0))?;
        rows.collect()
    }

    fn done_before(&self, before: i64) -> rusqlite::Result<Vec<Task>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE state = 'done' AND finished_at < ?1 ORDER BY finished_at"
        ))?;
        let rows = stmt.query_map([before], |r| self.task_from_row(r))?;
        rows.collect()
    }
}

fn row_error(column: usize) -> impl Fn(String) -> rusqlite::Error {
    move |why| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, why.into())
}

/// Brings a database written by an earlier release to [`VERSION`], in one
/// transaction: tasks in flight keep working.
fn migrate(conn: &mut Connection, key: Option<&Key>) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let columns: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('tasks')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (column, ddl) in [("gateway_job", "TEXT"), ("worker", "TEXT")] {
        if !columns.iter().any(|c| c == column) {
            tx.execute_batch(&format!("ALTER TABLE tasks ADD COLUMN {column} {ddl}"))?;
        }
    }
    // Version 1 kept the gateway job as `metadata.jumpserver`.
    let rows: Vec<(String, String)> = tx
        .prepare("SELECT id, metadata FROM tasks WHERE source = 'gateway' AND gateway_job IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, text) in rows {
        let mut metadata = from_store(&text, key).map_err(row_error(13))?;
        let job = metadata.as_object_mut().and_then(|m| m.remove("jumpserver")).unwrap_or(Value::Null);
        tx.execute(
            "UPDATE tasks SET gateway_job = ?2, metadata = ?3 WHERE id = ?1",
            params![id, to_store(&job, key), to_store(&metadata, key)],
        )?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {VERSION}"))?;
    tx.commit()
}

impl SqliteQueue {
    /// Opens (or creates) the store; `key` seals and opens session metadata.
    pub fn open(path: &Path, key: Option<Arc<Key>>) -> Result<SqliteQueue, QueueError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&mut conn, key.as_deref())?;
        let inner = Inner { conn: Mutex::new(conn), key, wake: Notify::new() };
        Ok(SqliteQueue { inner: Arc::new(inner) })
    }

    /// Runs `f` on the blocking pool.
    fn blocking<T, F>(&self, f: F) -> QueueFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(tokio::task::spawn_blocking(move || f(&inner)).await??) })
    }
}

/// A claimed task: SQLite claims do not expire, so keeping one alive is free.
struct SqliteLease {
    queue: SqliteQueue,
    task: Task,
}

impl Lease for SqliteLease {
    fn task(&self) -> &Task {
        &self.task
    }

    fn progress(&self, fraction: f64) -> QueueFuture<'_, ()> {
        let id = self.task.id.clone();
        self.queue.blocking(move |q| {
            q.update(
                "UPDATE tasks SET progress = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, fraction.clamp(0.0, 1.0), now_ms()],
            )
        })
    }

    fn uploading<'a>(&'a self, outputs: &'a [Output]) -> QueueFuture<'a, ()> {
        let id = self.task.id.clone();
        let outputs = serde_json::to_string(outputs).unwrap_or_default();
        self.queue.blocking(move |q| {
            q.update(
                "UPDATE tasks SET state = 'uploading', progress = 1, outputs = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, outputs, now_ms()],
            )
        })
    }

    fn settle(self: Box<Self>, outcome: Outcome) -> QueueFuture<'static, ()> {
        let id = self.task.id.clone();
        self.queue.blocking(move |q| q.settle(&id, &outcome))
    }
}

impl TaskStore for SqliteQueue {
    fn insert(&self, task: Task) -> QueueFuture<'_, ()> {
        self.blocking(move |q| q.insert(&task))
    }

    fn get<'a>(&'a self, id: &'a str) -> QueueFuture<'a, Option<Task>> {
        let id = id.to_string();
        self.blocking(move |q| q.get(&id))
    }

    fn list(&self, query: ListQuery) -> QueueFuture<'_, Page> {
        self.blocking(move |q| q.list(&query))
    }

    fn counts(&self) -> QueueFuture<'_, Vec<(State, u64)>> {
        self.blocking(|q| q.counts())
    }

    fn delete<'a>(&'a self, id: &'a str) -> QueueFuture<'a, ()> {
        let id = id.to_string();
        self.blocking(move |q| q.update("DELETE FROM tasks WHERE id = ?1", [id]))
    }

    fn done_before(&self, before: i64) -> QueueFuture<'_, Vec<Task>> {
        self.blocking(move |q| q.done_before(before))
    }

    fn inbox_file_taken<'a>(&'a self, path: &'a str) -> QueueFuture<'a, bool> {
        let path = path.to_string();
        self.blocking(move |q| {
            let n: i64 = q.conn().query_row(
                "SELECT COUNT(*) FROM tasks WHERE source_path = ?1 AND state NOT IN ('done', 'failed')",
                [path],
                |r| r.get(0),
            )?;
            Ok(n > 0)
        })
    }
}

impl WorkQueue for SqliteQueue {
    fn enqueue<'a>(&'a self, id: &'a str, received: Received) -> QueueFuture<'a, ()> {
        let id = id.to_string();
        self.blocking(move |q| q.enqueue(&id, &received))
    }

    fn next<'a>(
        &'a self,
        worker: &'a str,
        wait: Duration,
        stop: &'a CancellationToken,
    ) -> QueueFuture<'a, Option<Box<dyn Lease>>> {
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                if stop.is_cancelled() {
                    return Ok(None);
                }
                // Registered before looking, so a task queued meanwhile still wakes us.
                let woken = self.inner.wake.notified();
                let name = worker.to_string();
                if let Some(task) = self.blocking(move |q| q.claim_next(&name)).await? {
                    let lease: Box<dyn Lease> = Box::new(SqliteLease { queue: self.clone(), task });
                    return Ok(Some(lease));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                let due =
                    self.blocking(|q| q.next_due_in()).await?.map(|ms| Duration::from_millis(ms as u64));
                let nap = due.map_or(left, |d| d.max(Duration::from_millis(20)).min(left));
                tokio::select! {
                    _ = tokio::time::timeout(nap, woken) => {}
                    _ = stop.cancelled() => return Ok(None),
                }
            }
        })
    }

    fn requeue_failed<'a>(&'a self, id: &'a str) -> QueueFuture<'a, bool> {
        let id = id.to_string();
        self.blocking(move |q| {
            let changed = q.conn().execute(
                "UPDATE tasks SET state = 'queued', attempts = 0, next_attempt_at = 0, finished_at = NULL, \
                 updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
                params![id, now_ms()],
            )?;
            if changed == 1 {
                q.wake.notify_one();
            }
            Ok(changed == 1)
        })
    }

    fn recover(&self) -> QueueFuture<'_, Recovery> {
        self.blocking(|q| q.recover())
    }
}

impl GatewayParts for SqliteQueue {
    fn set_received<'a>(&'a self, id: &'a str, parts: u32, bytes: u64) -> QueueFuture<'a, ()> {
        let id = id.to_string();
        self.blocking(move |q| {
            q.update(
                "UPDATE tasks SET input_parts = ?2, input_bytes = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, parts, bytes as i64, now_ms()],
            )
        })
    }

    fn idle_receiving(&self, before: i64) -> QueueFuture<'_, Vec<String>> {
        self.blocking(move |q| {
            q.ids(
                "SELECT id FROM tasks WHERE state = 'receiving' AND source = 'gateway' AND updated_at < ?1",
                [before],
            )
        })
    }
}

impl QueueHealth for SqliteQueue {
    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::gateway_job::TaskConfig;
    use crate::pipeline::model::{new_task_id, today};

    fn task(state: State) -> Task {
        Task {
            state,
            input_parts: 1,
            input_bytes: 10,
            ..Task::receiving(&new_task_id(), "s1", Origin::Api, today())
        }
    }

    fn store(key: Option<Arc<Key>>) -> (tempfile::TempDir, SqliteQueue) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteQueue::open(&dir.path().join("tasks.db"), key).unwrap();
        (dir, s)
    }

    async fn claim(q: &SqliteQueue) -> Option<Box<dyn Lease>> {
        q.next("w1", Duration::ZERO, &CancellationToken::new()).await.unwrap()
    }

    #[tokio::test]
    async fn claims_oldest_due_first_and_counts_attempts() {
        let (_d, s) = store(None);
        let a = task(State::Queued);
        std::thread::sleep(Duration::from_millis(2));
        let b = task(State::Queued);
        s.insert(b.clone()).await.unwrap();
        s.insert(a.clone()).await.unwrap();
        let first = claim(&s).await.unwrap();
        assert_eq!(first.task().id, a.id);
        assert_eq!(first.task().state, State::Converting);
        assert_eq!((first.task().attempts, first.task().worker.as_deref()), (1, Some("w1")));
        first.settle(Outcome::Retry { error: "storage down".into(), delay_ms: 60_000 }).await.unwrap();
        assert_eq!(claim(&s).await.unwrap().task().id, b.id, "a retry waits for its time");
        assert!(claim(&s).await.is_none());
        assert_eq!(s.get(&a.id).await.unwrap().unwrap().last_error.as_deref(), Some("storage down"));
    }

    #[tokio::test]
    async fn a_waiting_worker_is_woken_by_an_enqueue() {
        let (_d, s) = store(None);
        let t = task(State::Receiving);
        s.insert(t.clone()).await.unwrap();
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move {
                s.next("w1", Duration::from_secs(30), &CancellationToken::new())
                    .await
                    .unwrap()
                    .map(|l| l.task().id.clone())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let received = Received { session_id: "s9".into(), parts: 1, bytes: 5, metadata: None };
        let started = Instant::now();
        s.enqueue(&t.id, received).await.unwrap();
        assert_eq!(waiter.await.unwrap(), Some(t.id.clone()));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(s.get(&t.id).await.unwrap().unwrap().session_id, "s9");
    }

    #[tokio::test]
    async fn a_stopped_wait_ends_without_claiming() {
        let (_d, s) = store(None);
        let stop = CancellationToken::new();
        let waiter = {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move { s.next("w1", Duration::from_secs(30), &stop).await.unwrap().is_none() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.cancel();
        assert!(waiter.await.unwrap(), "a stopped wait answers None");
        let t = task(State::Queued);
        s.insert(t.clone()).await.unwrap();
        assert!(
            s.next("w1", Duration::ZERO, &stop).await.unwrap().is_none(),
            "nothing is claimed once stopped"
        );
        assert_eq!(s.get(&t.id).await.unwrap().unwrap().state, State::Queued);
    }

    #[tokio::test]
    async fn recovery_drops_partial_uploads_and_resumes_work() {
        let (_d, s) = store(None);
        let receiving = task(State::Receiving);
        let converting = task(State::Converting);
        let done = task(State::Done);
        for t in [&receiving, &converting, &done] {
            s.insert(t.clone()).await.unwrap();
        }
        let r = s.recover().await.unwrap();
        assert_eq!(r.abandoned_uploads, vec![receiving.id.clone()]);
        assert_eq!(r.resumed, vec![converting.id.clone()]);
        assert!(s.get(&receiving.id).await.unwrap().is_none());
        assert_eq!(s.get(&converting.id).await.unwrap().unwrap().state, State::Queued);
        assert_eq!(s.get(&done.id).await.unwrap().unwrap().state, State::Done);
    }

    #[tokio::test]
    async fn lists_page_by_cursor_and_search_by_session() {
        let (_d, s) = store(None);
        for i in 0..5 {
            let t = Task {
                session_id: format!("{}-{i}", if i < 2 { "alpha" } else { "beta" }),
                ..task(State::Done)
            };
            s.insert(t).await.unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let q = |cursor: Option<String>| ListQuery { cursor, limit: 3, ..ListQuery::default() };
        let page = s.list(q(None)).await.unwrap();
        assert_eq!(page.items.len(), 3);
        let rest = s.list(q(page.next.clone())).await.unwrap();
        assert_eq!(rest.items.len(), 2);
        assert!(rest.next.is_none());
        assert!(page.items.iter().all(|t| rest.items.iter().all(|r| r.id < t.id)));
        let alpha = s.list(ListQuery { session: Some("alpha".into()), limit: 50, ..ListQuery::default() });
        assert_eq!(alpha.await.unwrap().items.len(), 2);
    }

    #[tokio::test]
    async fn gateway_jobs_live_in_their_own_sealed_column() {
        let key = Arc::new(Key::from_secret(&"s".repeat(32)).unwrap());
        let (dir, s) = store(Some(key.clone()));
        let job = GatewayJob::Parts {
            config: TaskConfig::default(),
            meta: serde_json::json!({"user": "alice-the-auditor", "files": [{"name": "s1.0.part.gz"}]}),
        };
        let t = Task::receiving(&new_task_id(), "s1", Origin::Gateway { job: job.clone() }, today());
        s.insert(t.clone()).await.unwrap();
        assert_eq!(s.get(&t.id).await.unwrap().unwrap().origin, Origin::Gateway { job });
        drop(s);
        let raw = std::fs::read(dir.path().join("tasks.db")).unwrap();
        let wal = std::fs::read(dir.path().join("tasks.db-wal")).unwrap_or_default();
        let clear = |b: &[u8]| b.windows(17).any(|w| w == b"alice-the-auditor");
        assert!(!clear(&raw) && !clear(&wal), "the job is sealed at rest");
    }

    /// A database as the first release wrote it: the gateway job inside the
    /// metadata, no `gateway_job` or `worker` columns, user_version 0.
    fn first_release_db(path: &Path, key: Option<&Key>) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let job = serde_json::json!({"jumpserver": {"protocol": "legacy", "fields": {"file_type": ".gz"}}});
        let rows = [
            ("t-gateway", "queued", "gateway", None, job),
            ("t-inbox", "converting", "inbox", Some("/inbox/a.guac"), serde_json::json!({})),
            ("t-api", "uploading", "api", None, serde_json::json!({"user": "bob"})),
        ];
        for (id, state, source, path, metadata) in &rows {
            conn.execute(
                "INSERT INTO tasks (id, session_id, state, created_at, updated_at, metadata, source, source_path, session_date) \
                 VALUES (?1, 'sess', ?2, 1, 1, ?3, ?4, ?5, '2026-11-30')",
                params![id, state, to_store(metadata, key), source, path],
            )
            .unwrap();
        }
        rows.iter().map(|r| r.0.to_string()).collect()
    }

    #[tokio::test]
    async fn a_first_release_database_migrates_with_its_tasks_in_flight() {
        for key in [None, Some(Arc::new(Key::from_secret(&"m".repeat(32)).unwrap()))] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tasks.db");
            first_release_db(&path, key.as_deref());
            let s = SqliteQueue::open(&path, key.clone()).unwrap();
            let gw = s.get("t-gateway").await.unwrap().unwrap();
            assert!(matches!(gw.origin, Origin::Gateway { job: GatewayJob::Legacy { .. } }), "{gw:?}");
            assert_eq!(gw.metadata, serde_json::json!({}), "the job left the metadata");
            let inbox = s.get("t-inbox").await.unwrap().unwrap();
            assert_eq!(inbox.origin, Origin::Inbox { path: "/inbox/a.guac".into() });
            assert_eq!(s.get("t-api").await.unwrap().unwrap().metadata["user"], "bob");
            // In-flight work resumes as before.
            let r = s.recover().await.unwrap();
            assert_eq!(r.resumed.len(), 2);
            drop(s);
            // Opening again changes nothing more.
            let again = SqliteQueue::open(&path, key).unwrap();
            assert!(again.get("t-gateway").await.unwrap().unwrap().origin.is_gateway());
        }
    }
}

//! The durable task store: SQLite in WAL mode with `synchronous=FULL`, one
//! file under `DATA_DIR`. Every state change is one transaction, committed
//! to disk before the change is acted on, so a crash at any moment leaves
//! each task in a state the next start can resume from (see
//! `docs/architecture.md` for why SQLite).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{Output, Source, State, Task, now_ms};
use super::sealed_metadata;

#[derive(Debug, thiserror::Error)]
#[error("task store: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

pub struct Store {
    conn: Mutex<Connection>,
}

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
     next_attempt_at, progress, input_parts, input_bytes, outputs, metadata, source, source_path, session_date";

fn task_from_row(r: &Row) -> rusqlite::Result<Task> {
    let state: String = r.get(2)?;
    let outputs: String = r.get(12)?;
    let metadata: String = r.get(13)?;
    let source: String = r.get(14)?;
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
        metadata: sealed_metadata::from_store(&metadata),
        source: Source::parse(&source),
        source_path: r.get(15)?,
        session_date: r.get(16)?,
    })
}

/// What a start-up recovery found and did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Uploads that never completed: their tasks are gone, their
    /// directories must be removed.
    pub abandoned_uploads: Vec<String>,
    /// Tasks that were converting or uploading, queued again.
    pub resumed: Vec<String>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, t: &Task) -> Result<(), StoreError> {
        self.conn().execute(
            &format!("INSERT INTO tasks ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"),
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
                sealed_metadata::to_store(&t.metadata),
                t.source.as_str(),
                t.source_path,
                t.session_date,
            ],
        )?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<Task>, StoreError> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [id], task_from_row)
            .optional()?)
    }

    /// A page of tasks, newest first, after the cursor (a task id).
    pub fn list(
        &self,
        state: Option<State>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Task>, Option<String>), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id < ?2) \
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows =
            stmt.query_map(params![state.map(State::as_str), after, limit as i64 + 1], task_from_row)?;
        let mut tasks = rows.collect::<Result<Vec<_>, _>>()?;
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| t.id.clone())
        } else {
            None
        };
        Ok((tasks, next))
    }

    /// Takes the oldest queued task that is due, marking it converting.
    pub fn claim_next(&self) -> Result<Option<Task>, StoreError> {
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
            "UPDATE tasks SET state = 'converting', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        let task =
            tx.query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [&id], task_from_row)?;
        tx.commit()?;
        Ok(Some(task))
    }

    /// Milliseconds until the next queued task is due, if any is queued.
    pub fn next_due_in(&self) -> Result<Option<i64>, StoreError> {
        let due: Option<i64> = self.conn().query_row(
            "SELECT MIN(next_attempt_at) FROM tasks WHERE state = 'queued'",
            [],
            |r| r.get(0),
        )?;
        Ok(due.map(|d| (d - now_ms()).max(0)))
    }

    fn update(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        self.conn().execute(sql, params)?;
        Ok(())
    }

    /// A received upload is complete: it may be converted.
    pub fn mark_queued(
        &self,
        id: &str,
        session_id: &str,
        parts: u32,
        bytes: u64,
        metadata: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        self.update(
            "UPDATE tasks SET state = 'queued', session_id = ?2, input_parts = ?3, input_bytes = ?4, \
             updated_at = ?5, metadata = COALESCE(?6, metadata) WHERE id = ?1",
            params![id, session_id, parts, bytes as i64, now_ms(), metadata.map(sealed_metadata::to_store)],
        )
    }

    /// Parts of a gateway task arrived so far (also marks it active).
    pub fn set_received(&self, id: &str, parts: u32, bytes: u64) -> Result<(), StoreError> {
        self.update(
            "UPDATE tasks SET input_parts = ?2, input_bytes = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, parts, bytes as i64, now_ms()],
        )
    }

    /// Tasks still receiving from `source` with no activity since `before`.
    pub fn idle_receiving(&self, source: Source, before: i64) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM tasks WHERE state = 'receiving' AND source = ?1 AND updated_at < ?2")?;
        let rows = stmt.query_map(params![source.as_str(), before], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn set_progress(&self, id: &str, progress: f64) -> Result<(), StoreError> {
        self.update(
            "UPDATE tasks SET progress = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, progress.clamp(0.0, 1.0), now_ms()],
        )
    }

    pub fn mark_uploading(&self, id: &str, outputs: &[Output]) -> Result<(), StoreError> {
        self.update(
            "UPDATE tasks SET state = 'uploading', progress = 1, outputs = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, serde_json::to_string(outputs).unwrap_or_default(), now_ms()],
        )
    }

    /// Stored; `note` says what went differently (kept as `last_error`).
    pub fn mark_done(&self, id: &str, outputs: &[Output], note: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        self.update(
            "UPDATE tasks SET state = 'done', outputs = ?2, last_error = ?4, updated_at = ?3, \
             finished_at = ?3 WHERE id = ?1",
            params![id, serde_json::to_string(outputs).unwrap_or_default(), now, note],
        )
    }

    pub fn mark_failed(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let now = now_ms();
        self.update(
            "UPDATE tasks SET state = 'failed', last_error = ?2, updated_at = ?3, finished_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )
    }

    /// A transient failure: queued again, due after `delay_ms`.
    pub fn schedule_retry(&self, id: &str, error: &str, delay_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        self.update(
            "UPDATE tasks SET state = 'queued', last_error = ?2, updated_at = ?3, next_attempt_at = ?4 \
             WHERE id = ?1",
            params![id, error, now, now + delay_ms],
        )
    }

    /// A failed task queued again by an admin; its attempts start over.
    pub fn requeue_failed(&self, id: &str) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE tasks SET state = 'queued', attempts = 0, next_attempt_at = 0, finished_at = NULL, \
             updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
            params![id, now_ms()],
        )?;
        Ok(changed == 1)
    }

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.update("DELETE FROM tasks WHERE id = ?1", [id])
    }

    /// After a crash or restart: unfinished uploads are dropped (their
    /// client never got an answer), interrupted work is queued again.
    pub fn recover(&self) -> Result<Recovery, StoreError> {
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

    /// Number of tasks in each state.
    pub fn counts(&self) -> Result<Vec<(State, u64)>, StoreError> {
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

    /// Finished (done) tasks whose end is older than `before` (Unix ms).
    pub fn done_before(&self, before: i64) -> Result<Vec<Task>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE state = 'done' AND finished_at < ?1 ORDER BY finished_at"
        ))?;
        let rows = stmt.query_map([before], task_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether an unfinished task already holds this inbox file.
    pub fn inbox_file_taken(&self, path: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM tasks WHERE source_path = ?1 AND state NOT IN ('done', 'failed')",
            [path],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::model::new_task_id;

    fn task(state: State) -> Task {
        Task {
            id: new_task_id(),
            session_id: "s1".into(),
            state,
            attempts: 0,
            last_error: None,
            created_at: now_ms(),
            updated_at: now_ms(),
            finished_at: None,
            next_attempt_at: 0,
            progress: 0.0,
            input_parts: 1,
            input_bytes: 10,
            outputs: vec![],
            metadata: serde_json::json!({}),
            source: Source::Api,
            source_path: None,
            session_date: "2026-11-22".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("tasks.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn claims_oldest_due_first_and_counts_attempts() {
        let (_d, s) = store();
        let a = task(State::Queued);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = task(State::Queued);
        s.insert(&b).unwrap();
        s.insert(&a).unwrap();
        let first = s.claim_next().unwrap().unwrap();
        assert_eq!(first.id, a.id);
        assert_eq!(first.state, State::Converting);
        assert_eq!(first.attempts, 1);
        s.schedule_retry(&a.id, "storage down", 60_000).unwrap();
        assert_eq!(s.claim_next().unwrap().unwrap().id, b.id, "a retry waits for its time");
        assert!(s.claim_next().unwrap().is_none());
    }

    #[test]
    fn recovery_drops_partial_uploads_and_resumes_work() {
        let (_d, s) = store();
        let receiving = task(State::Receiving);
        let converting = task(State::Converting);
        let done = task(State::Done);
        for t in [&receiving, &converting, &done] {
            s.insert(t).unwrap();
        }
        let r = s.recover().unwrap();
        assert_eq!(r.abandoned_uploads, vec![receiving.id.clone()]);
        assert_eq!(r.resumed, vec![converting.id.clone()]);
        assert!(s.get(&receiving.id).unwrap().is_none());
        assert_eq!(s.get(&converting.id).unwrap().unwrap().state, State::Queued);
        assert_eq!(s.get(&done.id).unwrap().unwrap().state, State::Done);
    }

    #[test]
    fn lists_page_by_cursor() {
        let (_d, s) = store();
        for _ in 0..5 {
            s.insert(&task(State::Done)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (page, next) = s.list(None, None, 3).unwrap();
        assert_eq!(page.len(), 3);
        let (rest, end) = s.list(None, next.as_deref(), 3).unwrap();
        assert_eq!(rest.len(), 2);
        assert!(end.is_none());
        assert!(page.iter().all(|t| rest.iter().all(|r| r.id < t.id)));
    }
}

//! A pipeline on a temporary directory for the in-process tests: the real
//! SQLite queue, a storage in memory that can be made to fail, and the
//! standalone ports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::ports::{Fixed, NoReports, Storage, StorageError, Stored};
// The real SQLite adapter: the pipeline's unit tests run on what a node runs.
use super::{Pipeline, Settings};
use crate::encode::EncodeSettings;
use crate::queues::sqlite::SqliteQueue;

/// Objects by key; fails every put while `fail` is set.
#[derive(Default)]
pub struct MemoryStorage {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    failing: AtomicBool,
    puts: AtomicUsize,
}

impl MemoryStorage {
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }
}

impl Storage for MemoryStorage {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(async move {
            self.puts.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                let cause = std::io::Error::other("the test storage is down");
                return Err(StorageError::Write {
                    storage: self.describe(),
                    key: key.into(),
                    source: cause.into(),
                });
            }
            let data = std::fs::read(file).map_err(|source| StorageError::ReadLocal {
                storage: self.describe(),
                file: file.display().to_string(),
                source,
            })?;
            let size = data.len() as u64;
            self.objects.lock().unwrap().insert(key.to_string(), data);
            Ok(Stored { key: key.to_string(), size })
        })
    }
}

pub struct Harness {
    pub pipeline: Arc<Pipeline>,
    pub storage: Arc<MemoryStorage>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut Settings)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            tasks_dir: dir.path().join("tasks"),
            name: "test-worker".into(),
            workers: 1,
            encode: EncodeSettings::default(),
            max_upload_bytes: 1 << 30,
            retry_max_delay: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(5),
            incomplete_task_timeout: Duration::from_secs(3600),
            inbox_dir: None,
            inbox_poll: Duration::from_secs(1),
            post_processing_scripts: vec![],
            post_processing_timeout: Duration::from_secs(10),
            clean_period_days: 7,
            role: super::role::Role::All,
            open: crate::playback::OpenOptions::default(),
            extras: crate::convert::Extras::default(),
        };
        adjust(&mut settings);
        std::fs::create_dir_all(&settings.tasks_dir).unwrap();
        let queue = SqliteQueue::open(&dir.path().join("tasks.db"), None).unwrap();
        let storage = Arc::new(MemoryStorage::default());
        let pipeline = Pipeline::new(
            settings,
            Arc::new(queue),
            None,
            Arc::new(Fixed(storage.clone())),
            Arc::new(NoReports),
        );
        Harness { pipeline: Arc::new(pipeline), storage, _dir: dir }
    }

    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.pipeline.task_dir(id).log_path()).unwrap_or_default()
    }

    pub fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.storage.objects.lock().unwrap().get(key).cloned()
    }

    /// Makes a retried task due now (the backoff itself is tested in `retry`).
    pub async fn make_due(&self, id: &str) {
        let task = self.pipeline.queue.get(id).await.unwrap().unwrap();
        assert!(task.next_attempt_at > 0, "the task is waiting for a retry");
        let path = self.pipeline.settings.tasks_dir.parent().unwrap().join("tasks.db");
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute("UPDATE tasks SET next_attempt_at = 0 WHERE id = ?1", [id]).unwrap();
    }
}

/// A 64x48 recording of 1.5 s with a few changes: converts in a moment.
pub fn tiny_recording() -> Vec<u8> {
    fn op(parts: &[&str]) -> String {
        let mut s: Vec<String> = parts.iter().map(|p| format!("{}.{}", p.chars().count(), p)).collect();
        s.last_mut().unwrap().push(';');
        s.join(",")
    }
    let mut text = op(&["size", "0", "64", "48"]);
    for (i, t) in [1000, 1500, 2000, 2500].iter().enumerate() {
        let x = (i * 10).to_string();
        text += &op(&["rect", "0", &x, "0", "16", "16"]);
        text += &op(&["cfill", "14", "0", "200", &(i * 50).to_string(), "40", "255"]);
        text += &op(&["sync", &t.to_string(), "1"]);
    }
    text.into_bytes()
}

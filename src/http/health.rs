//! `GET /video-worker/health/`: 200 while the worker can work ("ok", or
//! "degraded" with the reasons while core or the storage is out and work
//! waits), 503 when it cannot (data directory not writable, ffmpeg
//! missing; `unavailable` then says why and what fixes it). Cheap enough to
//! answer fast while conversions saturate the CPU.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::jumpserver::link::CoreLink;
use crate::pipeline::Pipeline;
use crate::pipeline::model::State as TaskState;
use crate::pipeline::queue::count_of;

/// What the service checks outside the pipeline.
pub struct Health {
    pub started: Instant,
    pub data_dir: PathBuf,
    /// The ffmpeg program, and whether it answered the last check.
    pub ffmpeg: PathBuf,
    pub ffmpeg_ok: AtomicBool,
}

impl Health {
    pub fn new(data_dir: PathBuf, ffmpeg: PathBuf) -> Health {
        Health { started: Instant::now(), data_dir, ffmpeg, ffmpeg_ok: AtomicBool::new(false) }
    }
}

#[derive(Clone)]
pub struct HealthState {
    pub pipeline: Arc<Pipeline>,
    pub health: Arc<Health>,
    pub link: Option<Arc<CoreLink>>,
}

pub async fn health(State(s): State<HealthState>) -> (StatusCode, Json<serde_json::Value>) {
    let (status, body) = report(&s).await;
    (status, Json(body))
}

/// The health answer: its status code and body (the console shows it too).
pub async fn report(s: &HealthState) -> (StatusCode, serde_json::Value) {
    let data_dir = data_dir_problem(&s.health.data_dir);
    let writable = data_dir.is_none();
    let ffmpeg = s.health.ffmpeg_ok.load(Ordering::Relaxed);
    let mut unavailable: Vec<String> = data_dir.into_iter().collect();
    if !ffmpeg {
        unavailable.push(format!(
            "ffmpeg does not run ({}): install it or set FFMPEG_PATH",
            s.health.ffmpeg.display()
        ));
    }
    let queued = s.pipeline.queue.counts().await.map(|c| count_of(&c, TaskState::Queued)).unwrap_or(0);
    let ok = writable && ffmpeg;
    let degraded = degraded_because(s);
    let status = match (ok, degraded.is_empty()) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let p = &s.pipeline;
    let mut body = serde_json::json!({
        "status": status,
        "unavailable": unavailable,
        "degraded": degraded,
        "version": env!("CARGO_PKG_VERSION"),
        "name": p.settings.name,
        "uptime_seconds": s.health.started.elapsed().as_secs(),
        "queue_depth": queued,
        "busy_workers": p.status.busy_workers(),
        "workers": p.settings.workers,
        "receiving": p.status.receiving(),
        "checks": { "data_dir_writable": writable, "ffmpeg": ffmpeg },
    });
    if p.queue.kind() != "sqlite" {
        // The queue depth above is the cluster's; this node's own figures
        // are its workers and what it has not handed to the cluster yet.
        body["cluster"] = serde_json::json!({
            "queue": p.queue.kind(),
            "queue_depth": queued,
            "role": p.settings.role.as_str(),
            "unpublished": p.queue.unpublished().await.unwrap_or(0),
        });
    }
    if let Some(link) = &s.link {
        // Core being down degrades the worker but does not stop it: work in
        // hand goes on; gateways are turned away (they keep their recordings
        // and store them themselves) until core is back. The status says so.
        let refusing = link.not_ready();
        body["core"] = serde_json::json!({
            "connected": link.is_connected(),
            "last_error": link.last_error(),
            "replay_storage": link.storage().map(|s| s.describe()),
            "accepting_gateways": refusing.is_none(),
            "refusing_because": refusing,
        });
    }
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

/// What an outage outside the worker is holding up: work waits and
/// drains when it returns, so the worker stays healthy (200), but says so.
fn degraded_because(s: &HealthState) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(link) = &s.link
        && !link.is_connected()
    {
        why.push(format!("core: {}", link.last_error().unwrap_or_else(|| "not connected yet".into())));
    }
    if let Some(e) = s.pipeline.status.storage_error() {
        why.push(format!("storage: {e}"));
    }
    if let Some(e) = s.pipeline.queue.problem() {
        why.push(format!("queue: {e}"));
    }
    why
}

/// `None` while `dir` takes a write; otherwise what is wrong and the fix,
/// worded for the admin: the directory, the uid the worker runs as, and
/// what to run on the host.
pub fn data_dir_problem(dir: &Path) -> Option<String> {
    let probe = dir.join(".health-probe");
    let written = std::fs::write(&probe, b"ok");
    let _ = std::fs::remove_file(&probe);
    written.err().map(|e| data_dir_message(dir, &e))
}

pub fn data_dir_message(dir: &Path, e: &std::io::Error) -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let owner = match std::fs::metadata(dir) {
        Ok(m) => format!("owned by uid {}, mode {:o}", m.uid(), m.mode() & 0o7777),
        Err(_) => "missing".to_string(),
    };
    let fix = if e.raw_os_error() == Some(libc::EROFS) {
        "it is on a read-only filesystem: mount the volume read-write".to_string()
    } else {
        format!(
            "give it to uid {uid}: on the host, `chown -R {uid}:{gid} <the directory mounted there, e.g. \
             /data/video/data>`, or start the container as root (the default) so its entrypoint does it"
        )
    };
    format!("DATA_DIR {} ({owner}) is not writable by uid {uid} ({e}): {fix}", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_data_dir_names_the_directory_the_uid_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        let m = data_dir_message(tmp.path(), &denied);
        let uid = unsafe { libc::geteuid() };
        assert!(m.contains(&tmp.path().display().to_string()), "{m}");
        assert!(m.contains(&format!("uid {uid}")) && m.contains("chown -R"), "{m}");
        let read_only = std::io::Error::from_raw_os_error(libc::EROFS);
        assert!(data_dir_message(tmp.path(), &read_only).contains("read-write"));
        assert_eq!(data_dir_problem(tmp.path()), None);
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let m = data_dir_problem(&file.join("data")).unwrap();
        assert!(m.contains("a-file/data") && m.contains("missing"), "{m}");
    }
}

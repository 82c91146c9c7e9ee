//! Sealing at rest with VIDEO_WORKER_SECRET_KEY, sealed uploads through
//! `video-worker submit`, and what a wrong key or an altered file does.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::server::Server;
use common::{Rec, bin, probe};

const KEY: &str = "0123456789abcdef0123456789ABCDEF";
const LONG: Duration = Duration::from_secs(120);

fn recording(dir: &Path) -> std::path::PathBuf {
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [0, 0, 0, 255]).sync(1000);
    for i in 0..15 {
        rec = rec.fill(0, i * 9, i * 6, 50, 40, [200, 80, 20, 255]).sync(1100 + i64::from(i) * 100);
    }
    rec.write(dir, "secret-session.guac")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn received_recordings_wait_sealed_and_still_become_the_right_video() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path());
    // No ffmpeg yet: the recording waits on disk, where we can look at it.
    let mut server = Server::start_unhealthy(
        dir.path(),
        &[("VIDEO_WORKER_SECRET_KEY", KEY), ("FFMPEG_PATH", "/nonexistent/ffmpeg")],
    );
    std::thread::sleep(Duration::from_millis(500));
    let id = server.upload_raw(&rec, "sealed-1");
    let stored = std::fs::read(dir.path().join("tasks").join(&id).join("input/0000.guac")).unwrap();
    assert!(stored.starts_with(b"VWSEAL01"), "the part is sealed on disk");
    assert!(!contains(&stored, b"4.sync") && !contains(&stored, b"image/png"), "no plaintext at rest");
    // A restart with ffmpeg opens it with the same key.
    server.restart_with("FFMPEG_PATH", "ffmpeg");
    let task = server.wait_finished(&id, LONG);
    assert_eq!(task["state"], "done", "{task}");
    let key = task["outputs"][0]["key"].as_str().unwrap();
    let (codec, _, _, w, h, _) = probe(&dir.path().join("replays").join(key));
    assert_eq!((codec.as_str(), w, h), ("h264", 320, 200));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("tasks").join(&id).join("output"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".mp4"))
        .collect();
    assert!(leftovers.is_empty(), "no clear copy kept once stored: {leftovers:?}");
    let mut r =
        common::server::agent().get(server.url(&format!("/api/v1/tasks/{id}/output"))).call().unwrap();
    assert_eq!(r.status().as_u16(), 200, "the MP4 is served from the storage");
    let served = r.body_mut().read_to_vec().unwrap();
    assert_eq!(served, std::fs::read(dir.path().join("replays").join(key)).unwrap());
    assert!(!server.log().contains(KEY), "the key is never logged");
}

#[test]
fn submit_seals_with_the_shared_key_and_a_stranger_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path());
    let server = Server::start(dir.path(), &[("VIDEO_WORKER_SECRET_KEY", KEY)]);
    let submit = |key: &str| {
        Command::new(bin())
            .args(["submit", rec.to_str().unwrap(), "--session-id", "sub-1"])
            .arg("--server")
            .arg(server.url(""))
            .env("VIDEO_WORKER_SECRET_KEY", key)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let ok = submit(KEY);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{stderr}\n{}", server.log());
    assert!(stderr.contains("(sealed)") && stderr.contains("stored"), "{stderr}");
    let id = String::from_utf8_lossy(&ok.stdout).trim().to_string();
    let task = server.get_json(&format!("/api/v1/tasks/{id}"));
    assert_eq!(task["state"], "done", "{task}");
    let other = submit("ZYXWVUTSRQPONMLKJIHGFEDCBA987654");
    let why = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success());
    assert!(why.contains("does not open") && why.contains("authenticate"), "{why}");
}

#[test]
fn an_altered_sealed_body_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("VIDEO_WORKER_SECRET_KEY", KEY)]);
    let key = video_worker::seal::Key::from_secret(KEY).unwrap();
    let mut w = video_worker::seal::SealWriter::new(Vec::new(), &key).unwrap();
    w.write_all(&std::fs::read(recording(dir.path())).unwrap()).unwrap();
    let mut sealed = w.finish().unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x40;
    let (status, answer) = server.post("/api/v1/recordings", "application/vnd.video-worker.sealed", &sealed);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("does not open"), "{answer}");
    let (status, _) =
        server.post("/api/v1/recordings", "application/vnd.video-worker.sealed", &sealed[..100]);
    assert_eq!(status, 400, "a cut-off sealed body");
    assert_eq!(std::fs::read_dir(dir.path().join("tasks")).unwrap().count(), 0, "nothing half-accepted");
}

#[test]
fn session_metadata_is_sealed_in_the_task_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("VIDEO_WORKER_SECRET_KEY", KEY)]);
    let body = std::fs::read(recording(dir.path())).unwrap();
    // {"user":"alice-9f3k","asset":"db-prod-7"}
    let query = "metadata=%7B%22user%22%3A%22alice-9f3k%22%2C%22asset%22%3A%22db-prod-7%22%7D";
    let (status, task) =
        server.post(&format!("/api/v1/recordings?{query}"), "application/octet-stream", &body);
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["metadata"]["user"], "alice-9f3k", "the API shows it opened");
    let id = task["id"].as_str().unwrap();
    assert_eq!(server.get_json(&format!("/api/v1/tasks/{id}"))["metadata"]["asset"], "db-prod-7");
    for file in ["tasks.db", "tasks.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !contains(&bytes, b"alice-9f3k") && !contains(&bytes, b"db-prod-7"),
            "{file} holds it in clear"
        );
    }
}

//! The service end to end: real HTTP, real ffmpeg, a real data directory.
//! Most tests run the service in this process (`spawn_app`); those that
//! restart it, `kill -9` it, signal it or read its log run the real binary.

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::{Server, multipart, spawn_app};
use common::{Rec, probe, sample};

const LONG: Duration = Duration::from_secs(120);

/// A short recording that converts in well under a second.
fn small_recording(dir: &Path, name: &str, color: [u8; 4]) -> std::path::PathBuf {
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [0, 0, 0, 255]).sync(1000);
    for i in 0..20 {
        rec = rec
            .fill(0, i * 10, i * 5, 40, 30, color)
            .mouse(i * 12, i * 7, 1000 + i64::from(i) * 100)
            .sync(1050 + i64::from(i) * 100);
    }
    rec.write(dir, name)
}

/// The MP4s under `root` (thumbnails are stored beside each in standalone mode).
fn stored_mp4s(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".incoming") {
                continue;
            }
            if p.is_dir() {
                stack.push(p)
            } else if p.extension().is_some_and(|e| e == "mp4") {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

#[test]
fn uploaded_samples_become_stored_mp4s_with_logs_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app(dir.path(), &[("VIDEO_WORKER_COUNT", "2")]);
    let rdp = server.upload_raw(&sample(common::RDP), "rdp-session");
    let vnc_bytes = std::fs::read(sample(common::VNC)).unwrap();
    let (ct, body) = multipart(&[
        ("session_id", None, b"vnc-session"),
        ("metadata", None, br#"{"user":"alice"}"#),
        ("file", Some("vnc.guac"), &vnc_bytes),
    ]);
    let (status, task) = server.post("/api/v1/recordings", &ct, &body);
    assert_eq!(status, 202, "{task}");
    let vnc = task["id"].as_str().unwrap().to_string();
    for (id, session) in [(&rdp, "rdp-session"), (&vnc, "vnc-session")] {
        let task = server.wait_finished(id, LONG);
        assert_eq!(task["state"], "done", "{task}");
        assert_eq!(task["session_id"], session);
        let out = &task["outputs"][0];
        let key = out["key"].as_str().unwrap();
        assert!(key.ends_with(&format!("/{session}/{session}.mp4")), "{key}");
        // Stored in the local storage under YYYY-MM-DD/<session>/.
        let stored = dir.path().join("replays").join(key);
        assert_eq!(std::fs::metadata(&stored).unwrap().len(), out["size"].as_u64().unwrap());
        assert_eq!(probe(&stored).0, "h264");
        // The received recording is gone, the log stays.
        assert!(!dir.path().join("tasks").join(id).join("input").exists());
        let (_, log) = server.get(&format!("/api/v1/tasks/{id}/log"));
        assert!(log.contains("converted:") && log.contains("stored") && log.contains("done in"), "{log}");
    }
    assert_eq!(server.get_json(&format!("/api/v1/tasks/{vnc}"))["metadata"]["user"], "alice");
    // The output, whole and by range.
    let mut whole =
        common::server::agent().get(server.url(&format!("/api/v1/tasks/{rdp}/output"))).call().unwrap();
    let mp4 = whole.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    let local = dir.path().join("fetched.mp4");
    std::fs::write(&local, &mp4).unwrap();
    assert_eq!(probe(&local).3, 1280);
    let mut part = common::server::agent()
        .get(server.url(&format!("/api/v1/tasks/{rdp}/output")))
        .header("Range", "bytes=100-199")
        .call()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.body_mut().read_to_vec().unwrap(), mp4[100..200]);
    // Listing and filtering.
    let list = server.get_json("/api/v1/tasks?state=done");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["next"].is_null());
    let page = server.get_json("/api/v1/tasks?limit=1");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap();
    let rest = server.get_json(&format!("/api/v1/tasks?limit=1&cursor={next}"));
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"]);
}

#[test]
fn the_api_needs_the_token_and_answers_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        spawn_app(dir.path(), &[("VIDEO_WORKER_API_TOKEN", "s3cret-token"), ("MAX_UPLOAD_SIZE", "1M")]);
    let agent = common::server::agent();
    for auth in [None, Some("Bearer wrong"), Some("s3cret-token"), Some("Basic s3cret-token")] {
        let mut req = agent.get(server.url("/api/v1/tasks"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let mut r = req.call().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    // Health and metrics are open.
    assert_eq!(agent.get(server.url("/video-worker/health/")).call().unwrap().status().as_u16(), 200);
    assert_eq!(agent.get(server.url("/metrics")).call().unwrap().status().as_u16(), 200);
    // With the token: unknown task 404, oversized body 413, bad names 400.
    let (status, body) = server.get("/api/v1/tasks/0123456789abcdef");
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
    // Oversized bodies: refused from the declared length, or while streaming one without.
    let declared = raw_exchange(server.port, "Content-Length: 5000000\r\n", &[b'x'; 1000]);
    assert!(declared.starts_with("HTTP/1.1 413") && declared.contains("payload_too_large"), "{declared}");
    let mut chunked = Vec::new();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&[b'y'; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    let streamed = raw_exchange(server.port, "Transfer-Encoding: chunked\r\n", &chunked);
    assert!(streamed.starts_with("HTTP/1.1 413") && streamed.contains("payload_too_large"), "{streamed}");
    let small = small_recording(dir.path(), "s.guac", [255, 0, 0, 255]);
    let data = std::fs::read(&small).unwrap();
    let (ct, body) = multipart(&[("file", Some("../../etc/passwd"), &data)]);
    let (status, json) = server.post("/api/v1/recordings", &ct, &body);
    assert_eq!((status, json["code"].as_str()), (400, Some("bad_request")), "{json}");
    let (status, _) = server.post("/api/v1/recordings?session_id=../x", "application/octet-stream", &data);
    assert_eq!(status, 400);
    assert_eq!(
        server.get_json("/api/v1/tasks")["items"].as_array().unwrap().len(),
        0,
        "nothing was accepted"
    );
    let leftovers = std::fs::read_dir(dir.path().join("tasks")).unwrap().count();
    assert_eq!(leftovers, 0, "refused uploads leave no files");
}

/// Sends an upload by hand (the server may answer before the body is
/// complete, which HTTP clients report as a broken pipe) and reads the answer.
fn raw_exchange(port: u16, extra_headers: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /api/v1/recordings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\nContent-Type: application/octet-stream\r\n{extra_headers}\r\n"
    );
    conn.write_all(head.as_bytes()).unwrap();
    let _ = conn.write_all(body); // may fail once the server has answered
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_upload_cut_off_mid_body_leaves_no_task() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app(dir.path(), &[]);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = "POST /api/v1/recordings?session_id=cut HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n";
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&vec![b'x'; 200_000]).unwrap();
    // The upload is under way: its task exists, receiving.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.get_json("/api/v1/tasks?state=receiving")["items"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(conn);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = server.get_json("/api/v1/tasks")["items"].as_array().unwrap().len();
        let dirs = std::fs::read_dir(dir.path().join("tasks")).unwrap().count();
        if tasks == 0 && dirs == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{tasks} tasks and {dirs} directories remain");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn twenty_concurrent_uploads_with_two_workers_all_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app(dir.path(), &[("VIDEO_WORKER_COUNT", "2")]);
    let files: Vec<_> = (0..20)
        .map(|i| small_recording(dir.path(), &format!("r{i}.guac"), [i as u8 * 12, 200, 0, 255]))
        .collect();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let server = &server;
                s.spawn(move || server.upload_raw(f, &format!("c{i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let health = server.get_json("/video-worker/health/");
    assert!(health["busy_workers"].as_u64().unwrap() <= 2, "{health}");
    for id in &ids {
        assert_eq!(server.wait_finished(id, LONG)["state"], "done");
    }
    assert_eq!(stored_mp4s(&dir.path().join("replays")).len(), 20);
}

#[test]
fn kill_9_during_conversion_resumes_and_stores_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[("VIDEO_WORKER_COUNT", "1")]);
    let id = server.upload_raw(&sample(common::VNC), "crash-convert");
    server.wait_for(&id, LONG, |t| t["state"] == "converting" && t["progress"].as_f64().unwrap_or(0.0) > 0.1);
    server.kill9();
    server.restart();
    let task = server.wait_finished(&id, LONG);
    assert_eq!(task["state"], "done", "{task}");
    assert_eq!(task["attempts"], 2);
    let (_, log) = server.get(&format!("/api/v1/tasks/{id}/log"));
    assert!(log.contains("resumed after a restart"), "{log}");
    let stored = stored_mp4s(&dir.path().join("replays"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(!dir.path().join("tasks").join(&id).join("output").join("crash-convert.mp4.part").exists());
}

#[test]
fn storage_failures_retry_and_a_kill_during_upload_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let replays = dir.path().join("replays");
    std::fs::create_dir_all(&replays).unwrap();
    // A file where the day's directory should be: every write fails.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    std::fs::write(replays.join(&today), b"in the way").unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let id = server.upload_raw(&small_recording(dir.path(), "u.guac", [0, 0, 255, 255]), "upload-crash");
    let task = server.wait_for(&id, LONG, |t| t["attempts"].as_u64() >= Some(2));
    assert_eq!(task["state"].as_str().map(|s| s != "done" && s != "failed"), Some(true), "{task}");
    assert!(task["last_error"].as_str().unwrap().contains("storage"), "{task}");
    server.kill9();
    std::fs::remove_file(replays.join(&today)).unwrap();
    server.restart();
    let task = server.wait_finished(&id, LONG);
    assert_eq!(task["state"], "done", "{task}");
    let (_, log) = server.get(&format!("/api/v1/tasks/{id}/log"));
    assert!(log.contains("retrying in") && log.contains("files of an earlier attempt are complete"), "{log}");
    assert_eq!(log.matches("converted:").count(), 1, "the MP4 is not made twice: {log}");
    assert_eq!(stored_mp4s(&replays).len(), 1);
}

#[test]
fn a_file_that_is_not_a_recording_fails_at_once_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app(dir.path(), &[]);
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"PK\x03\x04 this is a zip, not a recording").unwrap();
    let id = server.upload_raw(&junk, "junk");
    let task = server.wait_finished(&id, LONG);
    assert_eq!(task["state"], "failed");
    assert_eq!(task["attempts"], 1, "permanent failures are not retried");
    assert!(task["last_error"].as_str().unwrap().contains("not a Guacamole recording"), "{task}");
    let (status, again) = server.post(&format!("/api/v1/tasks/{id}/retry"), "application/json", b"");
    assert_eq!(status, 200, "{again}");
    let task = server.wait_finished(&id, LONG);
    assert_eq!((task["state"].as_str(), task["attempts"].as_u64()), (Some("failed"), Some(1)));
    let (status, json) = server.post("/api/v1/tasks/0123456789abcdef/retry", "application/json", b"");
    assert_eq!((status, json["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn cleanup_removes_only_old_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[("VIDEO_WORKER_CLEAN_PERIOD", "0")]);
    let done = server.upload_raw(&small_recording(dir.path(), "d.guac", [9, 9, 9, 255]), "keep-stored");
    server.wait_finished(&done, LONG);
    let junk = dir.path().join("j.bin");
    std::fs::write(&junk, b"garbage").unwrap();
    let failed = server.upload_raw(&junk, "failed-one");
    server.wait_finished(&failed, LONG);
    server.kill9();
    let out = std::process::Command::new(common::bin())
        .arg("cleanup")
        .env("DATA_DIR", dir.path())
        .env("VIDEO_WORKER_CLEAN_PERIOD", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("removed 1 finished task") && said.contains(&done), "{said}");
    assert!(!dir.path().join("tasks").join(&done).exists());
    assert!(dir.path().join("tasks").join(&failed).exists(), "failed tasks are kept");
    assert_eq!(stored_mp4s(&dir.path().join("replays")).len(), 1, "stored MP4s are never touched");
    server.restart();
    assert_eq!(server.get(&format!("/api/v1/tasks/{done}")).0, 404);
    assert_eq!(server.get(&format!("/api/v1/tasks/{failed}")).0, 200);
}

#[test]
fn inbox_files_are_taken_when_complete_and_moved_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let inbox_s = inbox.to_str().unwrap();
    let server = spawn_app(dir.path(), &[("INBOX_DIR", inbox_s), ("INBOX_POLL_SECONDS", "1")]);
    std::fs::copy(small_recording(dir.path(), "x.guac", [1, 2, 3, 255]), inbox.join("meeting-42.guac"))
        .unwrap();
    std::fs::write(inbox.join("broken.guac"), b"nothing to see").unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while !(inbox.join("processed/meeting-42.guac").exists() && inbox.join("failed/broken.guac").exists()) {
        assert!(std::time::Instant::now() < deadline, "inbox not processed: {}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let done = server.get_json("/api/v1/tasks?state=done");
    assert_eq!(done["items"][0]["session_id"], "meeting-42");
    assert_eq!(done["items"][0]["source"], "inbox");
    assert!(!inbox.join("meeting-42.guac").exists());
}

#[test]
fn post_processing_scripts_get_the_result_and_cannot_undo_it() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("script-arg.json");
    let good = dir.path().join("good.sh");
    std::fs::write(&good, format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\necho notified\n", record.display()))
        .unwrap();
    let bad = dir.path().join("bad.sh");
    std::fs::write(&bad, "#!/bin/sh\necho 'webhook down' >&2\nexit 7\n").unwrap();
    for s in [&good, &bad] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let scripts = format!("{},{}", good.display(), bad.display());
    let server = spawn_app(dir.path(), &[("POST_PROCESSING_SCRIPTS", &scripts)]);
    let id = server.upload_raw(&small_recording(dir.path(), "p.guac", [5, 5, 5, 255]), "scripted");
    assert_eq!(server.wait_finished(&id, LONG)["state"], "done");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let (_, log) = server.get(&format!("/api/v1/tasks/{id}/log"));
        if log.contains("exit status 7") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        log.contains("notified") && log.contains("exit status 7") && log.contains("webhook down"),
        "{log}"
    );
    let arg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(arg["task_id"], id.as_str());
    assert_eq!(arg["session_id"], "scripted");
    assert_eq!(arg["file_name"], "scripted.mp4");
    assert!(arg["size"].as_u64().unwrap() > 0 && arg["duration_ms"].as_i64().unwrap() > 1000, "{arg}");
    assert!(Path::new(arg["path"].as_str().unwrap()).is_file(), "{arg}");
    assert_eq!(server.get_json(&format!("/api/v1/tasks/{id}"))["state"], "done");
}

#[test]
fn sigterm_lets_the_running_conversion_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        Server::start(dir.path(), &[("VIDEO_WORKER_COUNT", "1"), ("SHUTDOWN_GRACE_SECONDS", "60")]);
    let id = server.upload_raw(&sample(common::RDP), "graceful");
    server.wait_for(&id, LONG, |t| t["state"] == "converting");
    let took = server.terminate();
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(server.log().contains("task done"), "the conversion finished before exit: {}", server.log());
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    for (key, value, allowed) in [
        ("HTTPD_PORT", "nine-thousand", "1 to 65535"),
        ("VIDEO_WORKER_COUNT", "-3", "number of workers"),
        ("LOG_LEVEL", "CHATTY", "DEBUG, INFO, WARN or ERROR"),
        ("VIDEO_WORKER_SECRET_KEY", "not-32-characters-long", "32 characters"),
        ("MAX_UPLOAD_SIZE", "huge", "20G"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(common::bin())
            .arg("serve")
            .current_dir(dir.path())
            .env(key, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) && err.contains(allowed), "{key}: {err}");
        if key == "VIDEO_WORKER_SECRET_KEY" {
            assert!(!err.contains(value), "a secret was echoed: {err}");
        }
    }
}

#[test]
fn check_config_masks_secrets_and_reads_the_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.txt");
    std::fs::write(
        &file,
        "HTTPD_PORT=9123\nVIDEO_WORKER_API_TOKEN=very-secret\nBOOTSTRAP_TOKEN=also-secret\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["check-config", "--config"])
        .arg(&file)
        .env("LOG_LEVEL", "WARN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTPD_PORT=9123") && text.contains("LOG_LEVEL=WARN    # environment"), "{text}");
    assert!(!text.contains("very-secret") && !text.contains("also-secret"), "{text}");
    assert!(text.contains("VIDEO_WORKER_API_TOKEN=******"), "{text}");
}

#[test]
fn the_example_config_documents_every_key_and_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.txt.example");
    let text = std::fs::read_to_string(&example).unwrap();
    for (key, _) in video_worker::config::KEYS {
        assert!(text.contains(&format!("{key}=")), "config.txt.example does not document {key}");
    }
    let out = std::process::Command::new(common::bin())
        .args(["check-config", "--config"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn health_is_503_while_ffmpeg_is_missing_and_uploads_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_unhealthy(dir.path(), &[("FFMPEG_PATH", "/nonexistent/ffmpeg")]);
    let (status, body) = server.first_health();
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["checks"]["ffmpeg"], false);
    assert_eq!(health["checks"]["data_dir_writable"], true);
    // Uploads are still accepted; the task waits (transient) instead of failing.
    let id = server.upload_raw(&small_recording(dir.path(), "w.guac", [1, 1, 1, 255]), "waits");
    let task = server.wait_for(&id, LONG, |t| t["attempts"].as_u64() >= Some(1) && t["state"] == "queued");
    assert!(task["last_error"].as_str().unwrap().contains("ffmpeg not found"), "{task}");
}

#[test]
fn an_unwritable_data_dir_keeps_health_503_naming_the_fix_until_it_is_fixed() {
    // Root writes anywhere, so the data directory is made impossible instead:
    // it lies under a regular file. The service stays up, unhealthy, saying why.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let data = blocker.join("data");
    let server = Server::start_unhealthy(dir.path(), &[("DATA_DIR", data.to_str().unwrap())]);
    let (status, body) = server.first_health();
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["checks"]["data_dir_writable"], false);
    let why = health["unavailable"][0].as_str().unwrap();
    let uid = unsafe { libc::geteuid() };
    assert!(why.contains(data.to_str().unwrap()) && why.contains(&format!("uid {uid}")), "{why}");
    assert!(why.contains("chown -R"), "{why}");
    // Fixed: the service starts on its own.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // (Between the two servers the port is briefly closed.)
    loop {
        let status = common::server::agent().get(server.url("/video-worker/health/")).call().ok();
        if status.as_ref().is_some_and(|r| r.status() == 200) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not healthy 30 s after the fix: {status:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(data.join("tasks.db").exists());
}

#[test]
fn metrics_count_tasks_bytes_and_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("LOG_FORMAT", "json")]);
    let file = small_recording(dir.path(), "m.guac", [3, 3, 3, 255]);
    let size = std::fs::metadata(&file).unwrap().len();
    let id = server.upload_raw(&file, "metered");
    server.wait_finished(&id, LONG);
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    for line in [
        "video_worker_tasks{state=\"done\"} 1",
        "video_worker_conversions_total 1",
        &format!("video_worker_bytes_in_total {size}"),
        "video_worker_queue_depth 0",
        "video_worker_conversion_seconds_count 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    // Every series the Grafana dashboard in docs/ queries exists.
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).expect("the dashboard is JSON");
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("video_worker_") {
                let name: String =
                    expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                queried.insert(name);
            }
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        let exists = text.lines().any(|l| {
            l.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        });
        assert!(exists, "the dashboard queries {name}, which /metrics does not have:\n{text}");
    }
    // LOG_FORMAT=json: every service log line is a JSON object.
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "not JSON: {l}");
    }
}

#[test]
fn a_multipart_upload_with_several_parts_is_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app(dir.path(), &[]);
    let data = std::fs::read(sample(common::RDP)).unwrap();
    let cut = data.len() / 2 + data[data.len() / 2..].iter().position(|&b| b == b';').unwrap() + 1;
    let (ct, body) = multipart(&[
        ("session_id", None, b"two-parts"),
        ("file", Some("part-1.guac"), &data[..cut]),
        ("file", Some("part-2.guac"), &data[cut..]),
    ]);
    let (status, task) = server.post("/api/v1/recordings", &ct, &body);
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["input_parts"], 2);
    let task = server.wait_finished(task["id"].as_str().unwrap(), LONG);
    assert_eq!(task["state"], "done", "{task}");
    let whole = server.upload_raw(&sample(common::RDP), "one-part");
    let whole = server.wait_finished(&whole, LONG);
    assert_eq!(task["outputs"][0]["duration_ms"], whole["outputs"][0]["duration_ms"]);
}

#[test]
fn upload_limits_answer_503_and_take_nothing() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // No ffmpeg: tasks stay queued, so the pending limit is reached.
    let env =
        [("FFMPEG_PATH", "/nonexistent/ffmpeg"), ("MAX_PENDING_TASKS", "2"), ("MAX_CONCURRENT_UPLOADS", "1")];
    let server = Server::start_unhealthy(dir.path(), &env);
    std::thread::sleep(Duration::from_millis(500));
    // One upload holds the only slot while its body trickles in.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(slow, "POST /api/v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    slow.write_all(&[b'x'; 1000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rec = std::fs::read(small_recording(dir.path(), "a.guac", [9, 9, 9, 255])).unwrap();
    let (status, answer) = server.post("/api/v1/recordings", "application/octet-stream", &rec);
    assert_eq!((status, answer["code"].as_str()), (503, Some("busy")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("MAX_CONCURRENT_UPLOADS"));
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    // The slot is free again; two tasks waiting is the pending limit.
    for _ in 0..2 {
        let (status, _) = server.post("/api/v1/recordings", "application/octet-stream", &rec);
        assert_eq!(status, 202);
    }
    let (status, answer) = server.post("/api/v1/recordings", "application/octet-stream", &rec);
    assert_eq!(status, 503, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("MAX_PENDING_TASKS"), "{answer}");
    assert_eq!(server.get_json("/api/v1/tasks")["items"].as_array().unwrap().len(), 2);
}

#[test]
fn a_hung_ffmpeg_is_stopped_and_the_task_retried() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // An "ffmpeg" that answers -version, then takes nothing and never exits.
    let hung = dir.path().join("hung-ffmpeg");
    std::fs::write(&hung, "#!/bin/sh\n[ \"$1\" = -version ] && exit 0\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&hung, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut server =
        Server::start(dir.path(), &[("FFMPEG_PATH", hung.to_str().unwrap()), ("FFMPEG_STALL_SECONDS", "1")]);
    let id = server.upload_raw(&sample(common::VNC), "hung");
    let task =
        server.wait_for(&id, LONG, |t| t["last_error"].as_str().is_some_and(|e| e.contains("no progress")));
    assert!(!matches!(task["state"].as_str(), Some("done" | "failed")), "retried, not failed: {task}");
    server.restart_with("FFMPEG_PATH", "ffmpeg");
    let task = server.wait_finished(&id, LONG);
    assert_eq!(task["state"], "done", "{task}");
}

/// Shutdown stops intake, waits for the background work (pool, inbox,
/// expiry, health checks, discarded uploads) and leaves nothing running.
#[test]
fn after_shutdown_nothing_is_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let data = dir.path().join("data");
    let (data_s, inbox_s) = (data.display().to_string(), inbox.display().to_string());
    let pairs = [
        ("DATA_DIR", data_s.as_str()),
        ("HTTPD_PORT", "0"),
        ("BIND_HOST", "127.0.0.1"),
        ("INBOX_DIR", inbox_s.as_str()),
        ("INBOX_POLL_SECONDS", "1"),
        ("SHUTDOWN_GRACE_SECONDS", "10"),
    ];
    let config =
        video_worker::config::Config::from_sources(&video_worker::config::Sources::from_pairs(&pairs))
            .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let running = video_worker::service::start(config).await.unwrap();
        let tracker = running.tracker.clone();
        assert!(!tracker.is_empty(), "the pool and the loops run as tracked tasks");
        // A recording dropped into the inbox is being converted when the stop comes.
        let rec = small_recording(dir.path(), "in.guac", [10, 200, 10, 255]);
        std::fs::copy(&rec, inbox.join("in.guac")).unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let started = std::time::Instant::now();
        running.shutdown.cancel();
        running.stopped().await.unwrap();
        assert!(tracker.is_closed() && tracker.is_empty(), "{} tasks still running", tracker.len());
        assert!(started.elapsed() < Duration::from_secs(10), "within the grace period");
    });
}

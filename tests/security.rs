//! Sealing at rest with VIDEO_WORKER_SECRET_KEY, sealed uploads through
//! `video-worker submit`, and what a wrong key or an altered file does.

mod common;

use std::io::{Read, Write};
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

/// One HTTP/1.1 request with exactly these headers: the whole answer.
fn exchange(s: &Server, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).to_string()
}

/// [`exchange`]: (status, body).
fn raw(s: &Server, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let text = exchange(s, method, path, headers, body);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .map(|v| v["code"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Without a token, what loopback trust grants is refused to other web
/// pages: a rebound name (DNS rebinding), a cross-site form, a foreign or
/// `null` Origin, `Sec-Fetch-Site: cross-site`; same-host callers, health,
/// /metrics and the gateways' endpoints answer as before.
#[test]
fn without_a_token_other_web_pages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), &[]);
    let port = s.port;
    let evil = format!("evil.example:{port}");
    let own = format!("127.0.0.1:{port}");
    let (ctype, form) = common::server::multipart(&[("file", Some("a.guac"), b"4.sync,4.1000;")]);
    let upload = |host: &str, extra: &[(&str, String)]| {
        let mut h = vec![("Host", host.to_string()), ("Content-Type", ctype.clone())];
        h.extend_from_slice(extra);
        raw(&s, "POST", "/api/v1/recordings", &h, &form)
    };
    let get = |path: &str, h: &[(&str, String)]| raw(&s, "GET", path, h, b"");
    // DNS rebinding: the page's own name, same-origin.
    let rebound = [("Host", evil.clone()), ("Origin", format!("http://{evil}"))];
    let (status, body) = upload(&evil, &rebound[1..]);
    assert_eq!((status, code_of(&body).as_str()), (403, "foreign_host"), "{body}");
    assert!(body.contains("ALLOWED_HOSTS"), "the answer says what is allowed: {body}");
    for path in ["/api/v1/tasks", "/api/v1/overview", "/ui/", "/ui/login"] {
        let (status, body) = get(path, &rebound);
        assert_eq!((status, code_of(&body).as_str()), (403, "foreign_host"), "{path}: {body}");
    }
    // A cross-site page aimed at the loopback address.
    for origin in ["http://evil.example", "null", &format!("http://localhost:{port}")] {
        let (status, body) = upload(&own, &[("Origin", origin.to_string())]);
        assert_eq!((status, code_of(&body).as_str()), (403, "cross_origin"), "{origin}: {body}");
    }
    let fetch_site = [("Host", own.clone()), ("Sec-Fetch-Site", "cross-site".to_string())];
    let (status, body) = get("/api/v1/tasks", &fetch_site);
    assert_eq!((status, code_of(&body).as_str()), (403, "cross_origin"), "{body}");
    let (status, body) = raw(&s, "POST", "/api/v1/tasks/x/retry", &fetch_site, b"");
    assert_eq!(status, 403, "{body}");
    // Nothing was created by any of it; same-host callers are served.
    let (status, body) = get("/api/v1/tasks", &[("Host", own.clone())]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"].as_array().unwrap().len(),
        0
    );
    let same = [
        ("Host", own.clone()),
        ("Origin", format!("http://{own}")),
        ("Sec-Fetch-Site", "same-origin".into()),
    ];
    assert_eq!(upload(&own, &same[1..]).0, 202);
    assert_eq!(get("/api/v1/tasks", &[("Host", format!("localhost:{port}"))]).0, 200);
    // Probes and the gateways are not the guard's.
    assert_eq!(get("/video-worker/health/", &rebound).0, 200);
    assert_eq!(get("/metrics", &rebound).0, 200);
    let (_, body) = raw(&s, "POST", "/api/v2/replay/sessions/s1/task/", &rebound, b"{}");
    assert_ne!(code_of(&body), "foreign_host", "{body}");
    // Each source and reason is logged once at WARN.
    let warned = |log: &str| log.lines().filter(|l| l.contains("it may come from another web page")).count();
    let log = s.log();
    assert!(log.lines().any(|l| l.contains("WARN") && l.contains("evil.example")), "{log}");
    assert_eq!(warned(&log), 5, "one line per reason, not per request:\n{log}");
    // A name the admin allows.
    s.restart_with("ALLOWED_HOSTS", "worker.test");
    let (status, body) = raw(&s, "GET", "/api/v1/tasks", &[("Host", format!("worker.test:{}", s.port))], b"");
    assert_eq!(status, 200, "{body}");
}

/// With a token nothing changes for API clients, whatever their Host; a
/// console session (its cookie) is still refused from another origin.
#[test]
fn with_a_token_clients_keep_working_and_console_sessions_stay_same_origin() {
    let dir = tempfile::tempdir().unwrap();
    let token = "origin-test-token-0123456789";
    let s = Server::start(dir.path(), &[("VIDEO_WORKER_API_TOKEN", token)]);
    let evil = format!("evil.example:{}", s.port);
    let own = format!("127.0.0.1:{}", s.port);
    let bearer = ("Authorization", format!("Bearer {token}"));
    let (status, _) = raw(&s, "GET", "/api/v1/tasks", &[("Host", evil.clone()), bearer.clone()], b"");
    assert_eq!(status, 200, "a token client behind any name");
    let (status, _) = raw(&s, "GET", "/api/v1/tasks", &[("Host", evil.clone())], b"");
    assert_eq!(status, 401);
    // Sign in as a browser would, then replay the cookie from elsewhere.
    let login = format!("token={token}");
    let form = [
        ("Host", own.clone()),
        ("Origin", format!("http://{own}")),
        ("Content-Type", "application/x-www-form-urlencoded".into()),
    ];
    let answer = exchange(&s, "POST", "/ui/login", &form, login.as_bytes());
    assert_eq!(answer.split(' ').nth(1), Some("303"), "{answer}");
    let cookie = {
        let line = answer.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
        line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string()
    };
    let with_cookie = |extra: (&str, String)| {
        raw(&s, "GET", "/api/v1/tasks", &[("Host", own.clone()), ("Cookie", cookie.clone()), extra], b"")
    };
    assert_eq!(with_cookie(("Accept", "*/*".into())).0, 200, "the console's own reads");
    let (status, body) = with_cookie(("Origin", "http://evil.example".into()));
    assert_eq!((status, code_of(&body).as_str()), (403, "cross_origin"), "{body}");
    let (status, body) = with_cookie(("Sec-Fetch-Site", "cross-site".into()));
    assert_eq!((status, code_of(&body).as_str()), (403, "cross_origin"), "{body}");
}

/// Bytes a gzip of `chunk` repeated `times` times takes, written to `path`.
fn gzip_of_repeats(path: &Path, head: &[u8], chunk: &[u8], times: usize, tail: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(head).unwrap();
    for _ in 0..times {
        gz.write_all(chunk).unwrap();
    }
    gz.write_all(tail).unwrap();
    gz.finish().unwrap();
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { dir_size(&entry.path()) } else { meta.len() };
    }
    total
}

/// The peak memory a hostile input may cost the service (docs/security.md).
const HOSTILE_RSS_BOUND: u64 = 256 << 20;

/// Small uploads that decompress to hundreds of megabytes, in every format:
/// each task fails naming the file and the limit, memory and disk stay
/// bounded, and the next recording still converts.
#[test]
fn compression_bombs_fail_their_task_and_cost_little() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &[]);
    let bombs = dir.path().join("bombs");
    std::fs::create_dir_all(&bombs).unwrap();
    let mb = vec![b'a'; 1 << 20];
    // A Guacamole part: a valid start, then 400 MB of one instruction.
    let guac = bombs.join("guac.gz");
    gzip_of_repeats(
        &guac,
        b"4.size,1.0,3.640,3.480;4.sync,4.1000;",
        &b"4.sync,4.1000;".repeat(4096),
        7000,
        b"",
    );
    // KoKo's old JSON: one 400 MB string.
    let json = bombs.join("old.replay.gz");
    gzip_of_repeats(&json, b"{\"1.0\":\"", &mb, 400, b"\"}");
    // asciicast: one endless line.
    let cast = bombs.join("endless.cast.gz");
    gzip_of_repeats(&cast, b"{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"", &mb, 400, b"\"]\n");
    // core's download: a gzipped tar with a 400 MB member.
    let tar_gz = bombs.join("s1.tar.gz");
    {
        let file = std::fs::File::create(&tar_gz).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(400 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "s1.cast", std::io::repeat(b'a').take(400 << 20)).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let mut sent = 0;
    for (bomb, why) in [
        (&guac, "compression bomb"),
        (&json, "16777216 bytes"),
        (&cast, "compression bomb"),
        (&tar_gz, "compression bomb"),
    ] {
        sent += std::fs::metadata(bomb).unwrap().len();
        assert!(std::fs::metadata(bomb).unwrap().len() < 2 << 20, "{} is small", bomb.display());
        let id = s.upload_raw(bomb, "bomb");
        let task = s.wait_finished(&id, LONG);
        assert_eq!(task["state"], "failed", "{}: {task}", bomb.display());
        let error = task["last_error"].as_str().unwrap();
        assert!(error.contains(why) && error.contains("refused"), "{}: {error}", bomb.display());
        assert!(error.contains("input/0000"), "the error names the file: {error}");
    }
    // A typescript whose timing file claims far more bytes than exist:
    // what exists is shown, the rest is named, nothing waits for it.
    let ts_data = bombs.join("typescript");
    std::fs::write(&ts_data, b"Script started on x\nhello\n").unwrap();
    let ts_timing = bombs.join("typescript.timing");
    std::fs::write(&ts_timing, b"0.5 6\n0.5 999999999999999\n").unwrap();
    let (ctype, form) = common::server::multipart(&[
        ("file", Some("typescript"), &std::fs::read(&ts_data).unwrap()),
        ("file", Some("typescript.timing"), &std::fs::read(&ts_timing).unwrap()),
    ]);
    let (status, task) = s.post("/api/v1/recordings", &ctype, &form);
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(s.wait_finished(&id, LONG)["state"], "done");
    let (_, log) = s.get(&format!("/api/v1/tasks/{id}/log"));
    assert!(log.contains("the timing file counts"), "{log}");
    // The service goes on converting.
    let good = recording(dir.path());
    let id = s.upload_raw(&good, "after-bombs");
    assert_eq!(s.wait_finished(&id, LONG)["state"], "done");
    let peak = s.peak_rss();
    assert!(peak < HOSTILE_RSS_BOUND, "peak RSS {} MB", peak >> 20);
    let on_disk = dir_size(&data.join("tasks"));
    assert!(on_disk < sent + (8 << 20), "nothing was unpacked and left: {on_disk} bytes for {sent} sent");
    eprintln!("bombs: {sent} bytes sent, peak RSS {} MB, {on_disk} bytes on disk", peak >> 20);
}

//! The gateway API end to end: a Lion-shaped client (byte for byte what
//! Lion's Go code sends) hands recordings to the real worker, which stores
//! the replays where the fake core says (core itself, a real S3 server, a
//! real Azure Blob server) and reports the session to core.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::fake_core::{FakeCore, ready_worker};
use common::lion::{Auth, Lion, gzip, sha256_hex};
use common::server::Server;
use common::{Rec, probe, sample};

/// A short recording that plays on its own, different for each `seed`.
fn small_recording(seed: u8, frames: i32) -> Vec<u8> {
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [seed, 0, 0, 255]).sync(1000);
    for i in 0..frames {
        rec = rec
            .fill(0, i * 7 % 280, i * 5 % 170, 40, 30, [255, seed, 80, 255])
            .sync(1100 + i64::from(i) * 100);
    }
    rec.bytes()
}

fn part(sid: &str, n: usize, raw: &[u8]) -> (String, Vec<u8>) {
    (format!("{sid}.{n}.part.gz"), gzip(raw))
}

/// What core's activity log shows for a session converted and stored without a hitch.
const CLEAN_RUN_EVENTS: [&str; 4] =
    ["replay_convert_start", "replay_convert_success", "replay_upload_start", "replay_upload_success"];

/// The service log's lines at `level` (text format: `<time> <LEVEL> <target>: ...`).
fn lines_at<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.split_whitespace().nth(1) == Some(level)).collect()
}

fn probe_bytes(dir: &Path, name: &str, data: &[u8]) -> (String, String, String, u32, u32, f64) {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    probe(&path)
}

#[test]
fn lion_parts_become_mp4s_in_core_and_the_session_is_marked() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"default": {"TYPE": "server"}})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-e2e", &[]);
    let mut lion = Lion::new(core.register_component("lion-e2e"), server.port);
    let sid = "3c2f6a4e-9a61-4d7e-b2a4-1f0e5d7c9b11";
    let files = vec![
        part(sid, 0, &std::fs::read(sample("vnc-1280x800-3min.guac")).unwrap()),
        part(sid, 1, &std::fs::read(sample("rdp-1280x800-2min-pngjpeg.guac")).unwrap()),
    ];
    let task = lion.upload_session(sid, &files).expect("the worker accepts Lion's upload");
    assert!(!task.is_empty());
    let patch = core.wait_has_replay(&server, sid);
    let out = tempfile::tempdir().unwrap();
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        let names: Vec<&str> = c.replays.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [format!("{sid}.0.part.mp4"), format!("{sid}.1.part.mp4"), format!("{sid}.replay.json")]
        );
        assert!(c.replays.iter().all(|r| r.session == sid && r.version == "5" && !r.chunked));
        let (v0, v1) = (&c.replays[0], &c.replays[1]);
        let p0 = probe_bytes(out.path(), "0.mp4", &v0.data);
        let p1 = probe_bytes(out.path(), "1.mp4", &v1.data);
        assert_eq!((p0.0.as_str(), p0.3, p0.4), ("h264", 1280, 800));
        assert_eq!((p1.0.as_str(), p1.3, p1.4), ("h264", 1280, 800));
        assert!((p0.5 - 180.0).abs() < 10.0, "each part lasts its own span: {}", p0.5);
        assert!(p1.5 > 90.0 && p1.5 < 125.0, "{}", p1.5);
        let index: Value = serde_json::from_slice(&c.replays[2].data).unwrap();
        assert_eq!(index["id"], sid);
        assert_eq!(index["date_start"], "2025-11-13 10:00:00 +0000", "the gateway's fields are kept");
        let listed = index["files"].as_array().unwrap();
        for (f, v) in listed.iter().zip([v0, v1]) {
            assert_eq!(f["name"], v.name.as_str());
            assert_eq!(f["size"], v.data.len() as u64);
            assert_eq!(f["checksum"], sha256_hex(&v.data));
            assert_eq!(
                f["end"].as_i64().unwrap() - f["start"].as_i64().unwrap(),
                f["duration"].as_i64().unwrap()
            );
        }
        assert!((listed[0]["duration"].as_i64().unwrap() - (p0.5 * 1000.0) as i64).abs() < 100);
        assert_eq!(patch["replay_size"], (v0.data.len() + v1.data.len()) as u64);
    });
    assert_eq!(core.accepted_events(sid), CLEAN_RUN_EVENTS, "the session's activity log in core");
    let task_dir = dir.path().join("tasks").join(&task);
    assert!(!task_dir.join("input").exists(), "the received parts are deleted once stored");
    assert!(task_dir.join("task.log").is_file());
}

#[test]
fn bad_parts_and_callers_are_refused_and_leave_nothing_behind() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-refuse", &[]);
    let mut lion = Lion::new(core.register_component("lion-refuse"), server.port);
    let sid = "sess-refuse";
    let files = vec![part(sid, 0, &small_recording(1, 5)), part(sid, 1, &small_recording(2, 5))];
    // No signature, and a person's key: 401 JSON.
    let body = common::lion::task_json(sid, 0, 0, &files, true);
    let a = lion.send(
        "POST",
        &format!("/api/v2/replay/sessions/{sid}/task/"),
        Some("application/json"),
        body.as_bytes(),
        Auth::None,
    );
    assert_eq!(a.status, 401);
    assert!(a.json()["error"].is_string());
    let person = core.register_component("alice");
    core.with(|c| c.humans.insert(person.0.clone()));
    let mut alice = Lion::new(person, server.port);
    assert_eq!(alice.create_task(sid, 0, 0, &files, true).status, 401, "people are not gateways");
    // A part whose bytes do not match its checksum: ok false, and the task is gone.
    let created = lion.create_task(sid, 0, 0, &files, true);
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    assert!(created.header("content-type").unwrap().starts_with("application/json"));
    let id = created.json()["id"].as_str().unwrap().to_string();
    let wrong = lion.upload_part(&id, 0, &files[0].0, &files[1].1);
    assert_eq!(wrong.json()["ok"], false);
    assert!(wrong.json()["error_message"].as_str().unwrap().contains("checksum"), "{}", wrong.json());
    let late = lion.upload_part(&id, 1, &files[1].0, &files[1].1);
    assert_eq!((late.status, late.json()["ok"].clone()), (404, Value::Bool(false)));
    assert!(!dir.path().join("tasks").join(&id).exists());
    // An index beyond files[]; a body that is not the announcement.
    let id = lion.create_task(sid, 0, 0, &files, true).json()["id"].as_str().unwrap().to_string();
    assert_eq!(lion.upload_part(&id, 2, "x.part.gz", &files[0].1).status, 400);
    let junk = lion.send(
        "POST",
        "/api/v2/replay/sessions/s2/task/",
        Some("application/json"),
        b"{\"meta\":{}}",
        Auth::Profile,
    );
    assert_eq!(junk.status, 400);
    let traversal = lion.send(
        "POST",
        "/api/v2/replay/sessions/..%2Fetc/task/",
        Some("application/json"),
        body.as_bytes(),
        Auth::Profile,
    );
    assert_eq!(traversal.status, 400);
    assert!(core.with(|c| c.replays.is_empty()));
    let log = server.log();
    assert!(!log.contains("Signature keyId"), "gateway headers must never be logged");
}

#[test]
fn a_worker_that_cannot_reach_core_accepts_nothing() {
    let core = FakeCore::start(true);
    let dir = tempfile::tempdir().unwrap();
    // A wrong bootstrap token: the worker never gets a key.
    let env = [("CORE_HOST", core.url.as_str()), ("BOOTSTRAP_TOKEN", "not-the-token"), ("NAME", "vw-closed")];
    let server = Server::start(dir.path(), &env);
    let mut lion = Lion::new(core.register_component("lion-closed"), server.port);
    let files = vec![part("s", 0, &small_recording(1, 3))];
    let a = lion.create_task("s", 0, 0, &files, true);
    assert_eq!(a.status, 503, "Lion must keep its recording and store it itself");
    assert!(a.json()["error"].as_str().unwrap().contains("core"), "{}", a.json());
    // A designed refusal: said at WARN with its reason, never at ERROR.
    let log = server.log();
    assert!(
        lines_at(&log, "WARN")
            .iter()
            .any(|l| l.contains("gateway request refused") && l.contains("status=503")),
        "{log}"
    );
    assert_eq!(lines_at(&log, "ERROR"), Vec::<&str>::new(), "nothing failed in the worker");
    let health = server.get_json("/video-worker/health/");
    assert_eq!(
        (health["status"].as_str(), health["core"]["accepting_gateways"].as_bool()),
        (Some("degraded"), Some(false))
    );
    assert!(health["degraded"][0].as_str().unwrap().starts_with("core:"), "{health}");
    assert!(health["core"]["refusing_because"].is_string(), "{health}");
}

#[test]
fn an_unconvertible_recording_is_stored_as_the_gateway_would_and_flagged() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "sftp", "SFTP_HOST": "10.0.0.1"})));
    let dir = tempfile::tempdir().unwrap();
    // Sealed at rest: the originals must come out of the seal byte for byte.
    let key = ("VIDEO_WORKER_SECRET_KEY", "0123456789abcdef0123456789ABCDEF");
    let server = ready_worker(dir.path(), &core, "vw-fallback", &[key]);
    let mut lion = Lion::new(core.register_component("lion-fallback"), server.port);
    let sid = "sess-garbage";
    let files = vec![part(sid, 0, b"this is not a guacamole recording at all, just text\n")];
    lion.upload_session(sid, &files).unwrap();
    let patch = core.wait_has_replay(&server, sid);
    core.wait("the error reason", |c| {
        c.session_patches.iter().any(|(s, b)| s == sid && b["error_reason"] == "replay_convert_failed")
    });
    core.with(|c| {
        let names: Vec<&str> = c.replays.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, [format!("{sid}.0.part.gz"), format!("{sid}.replay.json")]);
        assert_eq!(c.replays[0].data, files[0].1, "the original part, byte for byte");
        let index: Value = serde_json::from_slice(&c.replays[1].data).unwrap();
        assert_eq!(index["files"][0]["name"], format!("{sid}.0.part.gz"));
        assert_eq!(patch["replay_size"], files[0].1.len() as u64);
    });
    let events = core.accepted_events(sid);
    assert!(events.iter().any(|e| e == "replay_convert_failure"), "{events:?}");
}

#[test]
fn legacy_lions_log_in_keep_their_socket_and_get_one_mp4() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-legacy", &[]);
    // Lion ≤ 3.10.7: Login() (signed for the worker's profile URL) sets the cookie.
    let mut old = Lion::new(core.register_component("lion-old"), server.port);
    let login = old.legacy_login();
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    assert!(!old.cookies.is_empty());
    events_socket_answers_pings(server.port, &old.cookies);
    // Its upload is signed for the real path, which only the cookie vouches for.
    let sid = "sess-legacy-old";
    let fields = [
        ("bitrate", "1"),
        ("component_type", "lion"),
        ("file_type", ".replay"),
        ("height", "768"),
        ("session_date", "2024-03-02"),
        ("session_id", sid),
        ("width", "1024"),
    ];
    let raw = small_recording(3, 8);
    let a = old.legacy_create(sid, &fields, sid, &raw, Auth::RealPath);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let t = a.json();
    assert_eq!(
        (t["session_id"].as_str(), t["width"].as_u64(), t["session_date"].as_str()),
        (Some(sid), Some(1024), Some("2024-03-02"))
    );
    for k in ["id", "root_dir", "date_created", "replay_mp4_path", "replay_path", "status", "error"] {
        assert!(!t[k].is_null(), "the legacy task has {k}: {t}");
    }
    let patch = core.wait_has_replay(&server, sid);
    // Lion ≥ 3.10.8: ProfileAuth, gzipped file, no cookie.
    let mut newer = Lion::new(core.register_component("lion-3-10-8"), server.port);
    let sid2 = "sess-legacy-new";
    let gz = gzip(&small_recording(4, 6));
    let fields2 = [("component_type", "lion"), ("file_type", ".gz"), ("session_id", sid2)];
    let b = newer.legacy_create(sid2, &fields2, &format!("{sid2}.replay.gz"), &gz, Auth::Profile);
    assert_eq!(b.status, 200, "{}", String::from_utf8_lossy(&b.body));
    core.wait_has_replay(&server, sid2);
    // Without the cookie, a real-path signature proves nothing to core.
    let mut stranger = Lion::new(core.register_component("lion-stranger"), server.port);
    let c = stranger.legacy_create("sess-x", &fields2, "x.replay.gz", &gz, Auth::RealPath);
    assert_eq!(c.status, 401);
    let out = tempfile::tempdir().unwrap();
    core.with(|c| {
        let r = c.replays.iter().find(|r| r.session == sid).expect("the legacy MP4");
        assert_eq!((r.version.as_str(), r.name.as_str()), ("4", format!("{sid}.replay.mp4").as_str()));
        assert_eq!(patch["replay_size"], r.data.len() as u64);
        assert_eq!(probe_bytes(out.path(), "l.mp4", &r.data).0, "h264");
        assert!(c.replays.iter().any(|r| r.session == sid2 && r.version == "4"));
    });
}

/// `/ws/events/` with the `JMS-Video-Worker` subprotocol answers a ping.
fn events_socket_answers_pings(port: u16, cookies: &[String]) {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    let mut request = format!("ws://127.0.0.1:{port}/ws/events/").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "JMS-Video-Worker".parse().unwrap());
    request.headers_mut().insert("Cookie", cookies.join("; ").parse().unwrap());
    let (mut socket, response) = tungstenite::connect(request).expect("the event socket opens");
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "JMS-Video-Worker");
    socket.send(tungstenite::Message::text(r#"{"event":"ping"}"#)).unwrap();
    let answer = socket.read().unwrap();
    let v: Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert_eq!(v["event"], "pong");
}

#[test]
fn incomplete_tasks_expire_and_are_never_stored() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-expire", &[("INCOMPLETE_TASK_TIMEOUT", "1")]);
    let mut lion = Lion::new(core.register_component("lion-expire"), server.port);
    let files = vec![part("s-exp", 0, &small_recording(1, 3)), part("s-exp", 1, &small_recording(2, 3))];
    let id = lion.create_task("s-exp", 0, 0, &files, true).json()["id"].as_str().unwrap().to_string();
    assert_eq!(lion.upload_part(&id, 0, &files[0].0, &files[0].1).json()["ok"], true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.path().join("tasks").join(&id).exists() {
        assert!(Instant::now() < deadline, "the idle task was never dropped\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(lion.upload_part(&id, 1, &files[1].0, &files[1].1).status, 404);
    assert!(core.with(|c| c.replays.is_empty()));
}

#[test]
fn a_core_outage_during_storing_recovers_without_loss_or_duplicates() {
    let core = FakeCore::start(true);
    core.with(|c| {
        c.storage = Some(json!({"TYPE": "server"}));
        c.fail_replays = true;
        c.fail_patches = true;
    });
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-outage", &[]);
    let mut lion = Lion::new(core.register_component("lion-outage"), server.port);
    let sid = "sess-outage";
    let files = vec![part(sid, 0, &small_recording(5, 6)), part(sid, 1, &small_recording(6, 6))];
    lion.upload_session(sid, &files).unwrap();
    core.wait("the failed upload reported", |c| {
        c.lifecycle.iter().any(|(s, b)| s == sid && b["event"] == "replay_upload_failure")
    });
    let health = server.get_json("/video-worker/health/");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["degraded"].to_string().contains("storage:"), "{health}");
    // Storage back, session updates still failing: the files go up once...
    core.with(|c| c.fail_replays = false);
    core.wait("the three files", |c| c.replays.len() == 3);
    std::thread::sleep(Duration::from_secs(4));
    // ...and retries of the session update do not send them again.
    core.with(|c| c.fail_patches = false);
    core.wait_has_replay(&server, sid);
    core.with(|c| {
        let mut names: Vec<&str> = c.replays.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!((names.len(), c.replays.len()), (3, 3), "each file stored exactly once");
    });
    let log = std::fs::read_to_string(
        dir.path()
            .join("tasks")
            .join(std::fs::read_dir(dir.path().join("tasks")).unwrap().next().unwrap().unwrap().file_name())
            .join("task.log"),
    )
    .unwrap();
    assert!(log.contains("cannot mark the replay in core"), "{log}");
    assert_eq!(server.get_json("/video-worker/health/")["status"], "ok", "drained: healthy again");
}

#[test]
fn a_clean_gateway_session_logs_nothing_at_error_and_no_colour() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-clean", &[]);
    let mut lion = Lion::new(core.register_component("lion-clean"), server.port);
    let sid = "5d0b8e2a-1c3f-4b6a-9e7d-2f4a6c8e0b13";
    let files = vec![part(sid, 0, &small_recording(7, 8)), part(sid, 1, &small_recording(8, 8))];
    lion.upload_session(sid, &files).expect("the worker accepts the session");
    core.wait_has_replay(&server, sid);
    core.with(|c| assert!(c.bad_calls.is_empty(), "core would refuse or ignore: {:?}", c.bad_calls));
    assert_eq!(core.accepted_events(sid), CLEAN_RUN_EVENTS);
    let log = server.log();
    assert!(!log.contains("\x1b["), "a log written to a file carries no ANSI codes");
    // The level column is read right: the run's own INFO lines are there.
    let info = lines_at(&log, "INFO");
    assert!(info.iter().any(|l| l.contains("gateway task created")), "{log}");
    assert_eq!(lines_at(&log, "ERROR"), Vec::<&str>::new(), "nothing failed, so nothing is an error");
    assert!(!log.contains("refused"), "nothing was refused either\n{log}");
}

/// The calls core got about `lion`'s credentials.
fn profile_calls_of(core: &FakeCore, lion: &Lion) -> usize {
    core.with(|c| c.profile_calls.iter().filter(|a| a.contains(&lion.key.id)).count())
}

#[test]
fn malformed_signatures_get_401_json_and_core_is_never_asked() {
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-malformed", &[]);
    let files = vec![part("s-auth", 0, &small_recording(1, 3))];
    let body = common::lion::task_json("s-auth", 0, 0, &files, true);
    let path = "/api/v2/replay/sessions/s-auth/task/";
    let mut lion = Lion::new(core.register_component("lion-malformed"), server.port);
    // A signature whose headers leave out `date`, as Lion's helper makes it
    // (core would answer that with its 500 page).
    let a = lion.send("POST", path, Some("application/json"), body.as_bytes(), Auth::ProfileWithoutDate);
    let text = String::from_utf8_lossy(&a.body).to_string();
    assert_eq!(a.status, 401, "{text}");
    assert!(a.header("content-type").unwrap().starts_with("application/json"));
    assert!(a.json()["error"].as_str().unwrap().contains("date"), "{text}");
    // Every other defect, on the announcement and on a part upload.
    let (good, date) = lion.profile_headers();
    let variant = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    let cases: Vec<(String, Option<&str>)> = vec![
        (good.clone(), None),
        ("Bearer 0123456789abcdef".into(), Some(&date)),
        (variant("algorithm=\"hmac-sha256\"", "algorithm=\"hmac-sha512\""), Some(&date)),
        (variant("signature=\"", "signature=\"%%"), Some(&date)),
        (variant("headers=\"(request-target) date\"", "headers=\"date\""), Some(&date)),
        (variant("\",algorithm", ",algorithm"), Some(&date)),
    ];
    for (authorization, date) in &cases {
        let mut headers = vec![("Authorization", authorization.as_str())];
        headers.extend(date.map(|d| ("Date", d)));
        let a = lion.send_with("POST", path, Some("application/json"), body.as_bytes(), &headers);
        let text = String::from_utf8_lossy(&a.body).to_string();
        assert_eq!(a.status, 401, "{authorization}: {text}");
        assert!(a.json()["error"].is_string(), "{text}");
        assert!(!text.contains(&lion.key.id), "the answer carries nothing of the header: {text}");
        let up = lion.send_with(
            "POST",
            "/api/v2/replay/sessions/some-task/task/upload/0",
            Some("multipart/form-data; boundary=b"),
            b"--b--\r\n",
            &headers,
        );
        assert_eq!((up.status, up.json()["ok"].clone()), (401, Value::Bool(false)), "{authorization}");
        assert!(up.header("retry-after").is_none(), "a refusal is final");
    }
    assert_eq!(profile_calls_of(&core, &lion), 0, "core is never asked about a malformed signature");
    core.with(|c| assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls));
    // The well-formed pair is core's to judge, and passes.
    let ok = lion.send_with(
        "POST",
        path,
        Some("application/json"),
        body.as_bytes(),
        &[("Authorization", &good), ("Date", &date)],
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(profile_calls_of(&core, &lion), 1);
    let log = server.log();
    let leaks: Vec<&str> =
        log.lines().filter(|l| l.contains("Signature keyId") || l.contains(&lion.key.id)).collect();
    assert_eq!(leaks, Vec::<&str>::new(), "headers never reach the log");
    assert_eq!(lines_at(&log, "ERROR"), Vec::<&str>::new(), "refusing a caller is not a fault");
}

#[test]
fn core_s_refusals_are_401s_and_its_outages_503s_that_are_not_remembered() {
    use common::fake_core::ProfileFault;
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-outage-auth", &[]);
    let files = vec![part("s-auth", 0, &small_recording(1, 3))];
    let body = common::lion::task_json("s-auth", 0, 0, &files, true);
    let path = "/api/v2/replay/sessions/s-auth/task/";
    // Core's "no"s: 401 JSON with nothing of core's answer. A new gateway
    // each time: the worker remembers core's answer briefly.
    for (n, status) in [401, 403, 400].into_iter().enumerate() {
        let mut gateway = Lion::new(core.register_component(&format!("lion-no-{n}")), server.port);
        core.with(|c| c.profile_faults.push_back(ProfileFault::status(status)));
        let a = gateway.create_task("s-auth", 0, 0, &files, true);
        let text = String::from_utf8_lossy(&a.body).to_string();
        assert_eq!(a.status, 401, "core answered {status}: {text}");
        assert!(a.json()["error"].is_string(), "{text}");
        assert!(!text.contains("permission") && !text.contains("Invalid signature"), "{status}: {text}");
    }
    // Core failing once: 503 with Retry-After, in each endpoint's own shape;
    // the very same signed request passes at once when core is healthy again.
    for (n, status) in [500, 429, 502].into_iter().enumerate() {
        let mut lion = Lion::new(core.register_component(&format!("lion-outage-{n}")), server.port);
        let (authorization, date) = lion.profile_headers();
        let headers = [("Authorization", authorization.as_str()), ("Date", date.as_str())];
        core.with(|c| c.profile_faults.push_back(ProfileFault::status(status)));
        let a = lion.send_with("POST", path, Some("application/json"), body.as_bytes(), &headers);
        let text = String::from_utf8_lossy(&a.body).to_string();
        assert_eq!(a.status, 503, "core answered {status}: {text}");
        assert_eq!(a.header("retry-after"), Some("5"), "{status}");
        assert!(a.header("content-type").unwrap().starts_with("application/json"));
        assert!(a.json()["error"].as_str().unwrap().contains("core"), "{text}");
        assert!(!text.contains('<') && !text.contains("throttled"), "nothing of core's body: {text}");
        let again = lion.send_with("POST", path, Some("application/json"), body.as_bytes(), &headers);
        assert_eq!(again.status, 200, "{status}: not remembered\n{}", String::from_utf8_lossy(&again.body));
        assert_eq!(profile_calls_of(&core, &lion), 2, "core was asked again");
    }
    // A part upload answers Lion's {"ok", "error_message"} with the same
    // 503, each time core fails.
    let mut lion = Lion::new(core.register_component("lion-outage-part"), server.port);
    core.with(|c| c.profile_faults.extend([ProfileFault::status(500), ProfileFault::status(503)]));
    for _ in 0..2 {
        let up = lion.send(
            "POST",
            "/api/v2/replay/sessions/some-task/task/upload/0",
            Some("multipart/form-data; boundary=b"),
            b"--b--\r\n",
            Auth::Profile,
        );
        assert_eq!((up.status, up.json()["ok"].clone()), (503, Value::Bool(false)));
        assert_eq!(up.header("retry-after"), Some("5"));
        assert!(!String::from_utf8_lossy(&up.body).contains('<'));
    }
    core.with(|c| assert!(c.replays.is_empty()));
    let log = server.log();
    assert_eq!(lines_at(&log, "ERROR"), Vec::<&str>::new(), "an outage of core is not the worker's fault");
    // Once per burst: three outages that core recovered from, then one of
    // two failures in a row.
    let outage_warnings =
        lines_at(&log, "WARN").into_iter().filter(|l| l.contains("core cannot check gateways")).count();
    let recoveries = lines_at(&log, "INFO").into_iter().filter(|l| l.contains("checks gateways")).count();
    assert_eq!((outage_warnings, recoveries), (4, 3), "each outage is said at WARN once\n{log}");
    assert!(!log.contains("Signature keyId") && !log.contains("Server Error"), "no headers, no core body");
    assert!(
        lines_at(&log, "INFO")
            .iter()
            .any(|l| l.contains("gateway request refused") && l.contains("status=401")),
        "each refusal is logged with its reason\n{log}"
    );
}

#[test]
fn old_lions_login_and_event_socket_get_503_while_core_fails_then_pass() {
    use common::fake_core::ProfileFault;
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(json!({"TYPE": "server"})));
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-legacy-outage", &[]);
    let mut old = Lion::new(core.register_component("lion-old-outage"), server.port);
    // Login(): its signature covers the worker's profile URL, which is core's.
    let (authorization, date) = old.profile_headers();
    let headers = [("Authorization", authorization.as_str()), ("Date", date.as_str())];
    core.with(|c| c.profile_faults.push_back(ProfileFault::status(500)));
    let login = old.send_with("GET", "/api/v1/users/profile/", None, b"", &headers);
    assert_eq!(login.status, 503, "{}", String::from_utf8_lossy(&login.body));
    assert_eq!(login.header("retry-after"), Some("5"));
    assert!(login.json()["error"].is_string());
    assert!(old.cookies.is_empty(), "no session while core cannot vouch");
    let login = old.send_with("GET", "/api/v1/users/profile/", None, b"", &headers);
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    assert!(!old.cookies.is_empty());
    // The event socket, signed and without a cookie, asks core too.
    let socket = |authorization: &str, date: &str| {
        let mut request = format!("ws://127.0.0.1:{}/ws/events/", server.port).into_client_request().unwrap();
        let h = request.headers_mut();
        h.insert("Sec-WebSocket-Protocol", "JMS-Video-Worker".parse().unwrap());
        h.insert("Authorization", authorization.parse().unwrap());
        h.insert("Date", date.parse().unwrap());
        h.insert("X-JMS-ORG", "ROOT".parse().unwrap());
        tungstenite::connect(request)
    };
    let mut other = Lion::new(core.register_component("lion-old-socket"), server.port);
    let (authorization, date) = other.profile_headers();
    core.with(|c| c.profile_faults.push_back(ProfileFault::status(503)));
    match socket(&authorization, &date) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        }
        other => panic!("the upgrade is refused while core fails: {:?}", other.map(|(_, r)| r.status())),
    }
    let (mut open, _) =
        socket(&authorization, &date).expect("the same request opens the socket once core is back");
    open.send(tungstenite::Message::text(r#"{"event":"ping"}"#)).unwrap();
    assert!(open.read().unwrap().to_text().unwrap().contains("pong"));
    // A malformed signature never reaches core, here either.
    let undated =
        other.send_with("GET", "/api/v1/users/profile/", None, b"", &[("Authorization", &authorization)]);
    assert_eq!(undated.status, 401);
    assert_eq!(
        profile_calls_of(&core, &other),
        2,
        "the failed upgrade and the good one; not the malformed login"
    );
}

//! The worker against a fake JumpServer core that is as strict as the real
//! one about what it checks: the bootstrap token, the 300-second
//! registration window, unique names, and an HTTP signature (made with the
//! secret it issued) plus `X-JMS-ORG` on every later call.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use common::fake_core::{FakeCore, TOKEN};
use common::server::Server;

fn worker(data: &std::path::Path, core: &FakeCore, name: &str) -> Server {
    Server::start(data, &[("CORE_HOST", &core.url), ("BOOTSTRAP_TOKEN", TOKEN), ("NAME", name)])
}

#[test]
fn registers_keeps_its_key_heartbeats_and_reads_the_replay_storage() {
    let core = FakeCore::start(true);
    let dir = tempfile::tempdir().unwrap();
    let mut server = worker(dir.path(), &core, "vw-one");
    core.wait("a WebSocket heartbeat", |c| !c.ws_heartbeats.is_empty() && c.config_reads > 0);
    core.wait("the pushed task acknowledged", |c| c.finished_tasks.iter().any(|t| t == "task-7"));
    let key_file = dir.path().join("keys/.access_key");
    let (id, secret) = core.with(|c| {
        assert_eq!(c.registrations.len(), 1);
        assert_eq!(c.registrations[0]["type"], "video_worker");
        assert_eq!(c.registrations[0]["name"], "vw-one");
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        let message = &c.ws_heartbeats[0];
        assert_eq!(message["type"], "status", "{message}");
        let beat = &message["payload"];
        for k in ["cpu_load", "memory_used", "disk_used"] {
            assert!(beat[k].is_number(), "{beat}");
        }
        assert_eq!(beat["sessions"], json!([]));
        assert_eq!(beat["session_online"], 0);
        c.keys.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap()
    });
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), format!("{id}:{secret}"));
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let h = server.get_json("/video-worker/health/");
        if h["core"]["replay_storage"].is_string() {
            break h;
        }
        assert!(Instant::now() < deadline, "the replay storage never showed: {h}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health["core"]["connected"], true, "{health}");
    assert!(health["core"]["replay_storage"].as_str().unwrap().contains("s3 bucket replays"), "{health}");
    // A restart reuses the stored key.
    server.restart();
    core.wait("the stored key checked", |c| c.profile_reads >= 2);
    assert_eq!(core.with(|c| c.registrations.len()), 1);
    let log = server.log();
    for secret_text in [TOKEN, secret.as_str(), "s3-secret-value"] {
        assert!(!log.contains(secret_text), "a secret reached the log: {secret_text}");
    }
}

#[test]
fn a_revoked_key_leads_to_a_new_registration_and_the_old_key_is_kept_aside() {
    let core = FakeCore::start(true);
    let dir = tempfile::tempdir().unwrap();
    let mut server = worker(dir.path(), &core, "vw-two");
    core.wait("a registration", |c| c.registrations.len() == 1 && c.profile_reads >= 1);
    server.kill9();
    let beats_before = core.with(|c| {
        c.keys.clear();
        c.names.clear();
        c.ws_heartbeats.len()
    });
    server.restart();
    // A heartbeat of the new process comes after its key is saved.
    core.wait("a second registration", |c| {
        c.registrations.len() == 2 && c.ws_heartbeats.len() > beats_before
    });
    let aside = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".access_key_"))
        .count();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(aside, 1, "{names:?}\n{}", server.log());
}

#[test]
fn a_closed_registration_window_is_explained_and_does_not_block_health() {
    let core = FakeCore::start(false);
    let dir = tempfile::tempdir().unwrap();
    let server = worker(dir.path(), &core, "vw-three");
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let h = server.get_json("/video-worker/health/");
        if h["core"]["last_error"].is_string() {
            break h;
        }
        assert!(Instant::now() < deadline, "no core error reported: {h}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health["status"], "degraded", "core is out of reach: 200, but degraded");
    assert_eq!(health["core"]["connected"], false);
    assert!(health["core"]["last_error"].as_str().unwrap().contains("300 s"), "{health}");
    assert!(!dir.path().join("keys/.access_key").exists());
    // Once core accepts registrations, the worker gets in by itself.
    core.with(|c| c.window_open = true);
    core.wait("a late registration", |c| c.registrations.len() == 1);
}

#[test]
fn a_taken_name_is_explained() {
    let core = FakeCore::start(true);
    core.with(|c| {
        c.names.insert("vw-dup".into());
    });
    let dir = tempfile::tempdir().unwrap();
    let server = worker(dir.path(), &core, "vw-dup");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = server.get_json("/video-worker/health/");
        if let Some(e) = h["core"]["last_error"].as_str() {
            assert!(e.contains("NAME") && e.contains("vw-dup") && e.contains("taken"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "no error: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_the_websocket_the_rest_heartbeat_keeps_the_worker_alive() {
    let core = FakeCore::start(true);
    core.with(|c| c.ws_disabled = true);
    let dir = tempfile::tempdir().unwrap();
    let _server = worker(dir.path(), &core, "vw-rest");
    core.wait("a REST heartbeat", |c| !c.heartbeats.is_empty());
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        assert!(c.heartbeats[0]["cpu_load"].is_number());
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_reach_core_with_a_content_length_then_the_session_is_marked() {
    use video_worker::jumpserver::core_client::CoreClient;
    use video_worker::jumpserver::core_storage::CoreStorage;
    use video_worker::pipeline::ports::Storage;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let core = FakeCore::start(true);
    let client = CoreClient::new(&core.url, false).unwrap();
    let key = client.register("vw-store", TOKEN).await.unwrap();
    client.set_key(key);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.mp4");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let client = Arc::new(client);
    let storage = CoreStorage::new(client.clone());
    client.lifecycle("sess-1", "replay_convert_success", "").await.unwrap();
    let stored = storage.put_file("2026-11-22/sess-1/sess-1.0.part.mp4", &file).await.unwrap();
    client.mark_replay("sess-1", stored.size).await.unwrap();
    client.mark_replay_error("sess-3", "replay_convert_failed").await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    storage.put_file("2026-11-22/sess-2.replay.mp4", &file).await.unwrap();
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        assert_eq!(c.replays.len(), 2);
        let r = &c.replays[0];
        assert_eq!(
            (r.session.as_str(), r.version.as_str(), r.name.as_str()),
            ("sess-1", "5", "sess-1.0.part.mp4")
        );
        assert!(r.data == data, "the bytes arrive unchanged");
        assert!(r.content_length.is_some() && !r.chunked, "core needs a Content-Length, not chunks");
        let r = &c.replays[1];
        assert_eq!(
            (r.session.as_str(), r.version.as_str(), r.name.as_str()),
            ("sess-2", "4", "sess-2.replay.mp4")
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_credentials_are_checked_by_core_and_cached_by_hash() {
    use video_worker::jumpserver::core_client::CoreClient;
    use video_worker::jumpserver::gateway_auth::{Credentials, Denied, GatewayAuth};
    use video_worker::jumpserver::signer::{authorization, http_date};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let core = FakeCore::start(true);
    let client = Arc::new(CoreClient::new(&core.url, false).unwrap());
    let lion = client.register("lion-gateway", TOKEN).await.unwrap();
    let person = client.register("alice", TOKEN).await.unwrap();
    core.with(|c| c.humans.insert(person.id.clone()));
    let auth = GatewayAuth::new(client.clone());
    let date = http_date();
    // ProfileAuth, as Lion does it: the signature covers core's profile URL.
    let good = authorization(&lion, "GET", "/api/v1/users/profile/", &date);
    let creds = |a: &'static str| Credentials { authorization: a, date: "", org: "ROOT" };
    let ok = Credentials { authorization: &good, date: &date, org: "ROOT" };
    assert!(auth.check(&ok).await.is_ok());
    let reads = core.with(|c| c.profile_reads);
    assert!(auth.check(&ok).await.is_ok());
    assert_eq!(core.with(|c| c.profile_reads), reads, "a repeat is answered from the cache");
    // A forged signature, one made for another path, and a person's key are refused.
    // Well formed, but not the signature: only core can tell.
    let at = good.find("signature=\"").unwrap() + "signature=\"".len();
    let forged = format!("{}AAAA{}", &good[..at], &good[at + 4..]);
    let other_path = authorization(&lion, "POST", "/api/v2/replay/sessions/x/task/", &date);
    let human = authorization(&person, "GET", "/api/v1/users/profile/", &date);
    for bad in [forged, other_path, human] {
        let c = Credentials { authorization: &bad, date: &date, org: "ROOT" };
        assert!(matches!(auth.check(&c).await, Err(Denied::Refused(_))), "{bad}");
    }
    assert_eq!(auth.check(&creds("")).await, Err(Denied::Missing));
    let undated = Credentials { authorization: &good, date: "", org: "ROOT" };
    assert!(matches!(auth.check(&undated).await, Err(Denied::Malformed(_))), "no Date");
    core.with(|c| assert_eq!(c.bad_calls.len(), 2, "core saw the two bad signatures: {:?}", c.bad_calls));
}

/// A client registered with `core` under `name`.
async fn registered(core: &FakeCore, name: &str) -> Arc<video_worker::jumpserver::core_client::CoreClient> {
    use video_worker::jumpserver::core_client::CoreClient;
    let client = CoreClient::new(&core.url, false).unwrap();
    client.set_key(client.register(name, TOKEN).await.unwrap());
    Arc::new(client)
}

/// A signed call to core with a JSON body.
async fn ask(
    client: &video_worker::jumpserver::core_client::CoreClient,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, video_worker::jumpserver::core_client::CoreError> {
    client.call(method, path, Some(&body)).await
}

fn task_log_lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("task.log")).unwrap_or_default().lines().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_events_go_as_core_takes_them_and_core_answers_200() {
    use video_worker::jumpserver::session_report::{Event, Posted, post_event};
    use video_worker::pipeline::tasklog::TaskLog;
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-events").await;
    let dir = tempfile::tempdir().unwrap();
    let log = TaskLog::new(dir.path());
    let all = [
        (Event::ConvertStart, ""),
        (Event::ConvertSuccess, ""),
        (Event::ConvertFailure, "not a recording"),
        (Event::UploadStart, " "),
        (Event::UploadSuccess, ""),
        (Event::UploadFailure, "storage down"),
    ];
    for (event, reason) in all {
        let posted = post_event(&client, "sess-ev", "task-ev", event, reason, &log).await;
        assert!(matches!(posted, Posted::Accepted), "{}: {posted:?}", event.name());
    }
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        let bodies: Vec<&serde_json::Value> = c.lifecycle.iter().map(|(_, b)| b).collect();
        assert_eq!(
            bodies,
            [
                &json!({"event": "replay_convert_start"}),
                &json!({"event": "replay_convert_success"}),
                &json!({"event": "replay_convert_failure", "reason": "not a recording"}),
                &json!({"event": "replay_upload_start"}),
                &json!({"event": "replay_upload_success"}),
                &json!({"event": "replay_upload_failure", "reason": "storage down"}),
            ],
            "a reason only when there is one; core's event names"
        );
    });
    assert!(task_log_lines(dir.path()).is_empty(), "nothing to report when core takes every event");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lifecycle_event_core_cannot_take_now_is_tried_again_then_given_up() {
    use video_worker::jumpserver::session_report::{Event, Posted, post_event};
    use video_worker::pipeline::tasklog::TaskLog;
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-events-retry").await;
    let dir = tempfile::tempdir().unwrap();
    let log = TaskLog::new(dir.path());
    // Two 503s, then core takes it: one event in the session's log.
    core.with(|c| c.fail_lifecycle = 2);
    let posted = post_event(&client, "sess-r", "task-r", Event::UploadStart, "", &log).await;
    assert!(matches!(posted, Posted::Accepted), "{posted:?}");
    core.with(|c| {
        assert_eq!(c.lifecycle_posts.len(), 3, "two tries refused, the third taken");
        assert_eq!(c.lifecycle.len(), 1);
    });
    assert!(task_log_lines(dir.path()).is_empty());
    // Core that stays unavailable: three tries, then one line in the task log.
    core.with(|c| c.fail_lifecycle = 100);
    let posted = post_event(&client, "sess-r", "task-r", Event::UploadSuccess, "", &log).await;
    assert!(matches!(posted, Posted::GaveUp(_)), "{posted:?}");
    assert_eq!(core.with(|c| c.lifecycle_posts.len()), 6);
    let lines = task_log_lines(dir.path());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("replay_upload_success") && lines[0].contains("503"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lifecycle_event_core_refuses_is_reported_once_with_its_answer_and_not_retried() {
    use video_worker::jumpserver::session_report::{Event, Posted, post_event};
    use video_worker::pipeline::tasklog::TaskLog;
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-events-refused").await;
    core.with(|c| c.gone_sessions.insert("sess-gone".into()));
    let dir = tempfile::tempdir().unwrap();
    let log = TaskLog::new(dir.path());
    let posted = post_event(&client, "sess-gone", "task-g", Event::ConvertStart, "", &log).await;
    assert!(matches!(posted, Posted::Refused(_)), "{posted:?}");
    assert_eq!(core.with(|c| c.lifecycle_posts.len()), 1, "a 4xx is not asked again");
    let lines = task_log_lines(dir.path());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("replay_convert_start")
            && lines[0].contains("404")
            && lines[0].contains("Not found."),
        "core's answer is in the task log: {lines:?}"
    );
}

/// The fake core answers as the real one on the points the worker depends
/// on; the worker's own tests are only as good as this.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_core_answers_as_the_real_one() {
    use reqwest::Method;
    use video_worker::jumpserver::core_client::CoreError;
    use video_worker::jumpserver::signer::http_date;
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-selftest").await;
    let lifecycle = "/api/v1/terminal/sessions/sess-st/lifecycle_log/";
    let refused = |r: Result<serde_json::Value, CoreError>| match r {
        Err(CoreError::Http { status, body, .. }) => {
            (status, serde_json::from_str(&body).unwrap_or(json!(body)))
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Lifecycle: a blank reason and an unknown name are 400s, as the issue saw them; a good event is a 200.
    let blank = ask(&client, Method::POST, lifecycle, json!({"event": "replay_convert_start", "reason": ""}));
    assert_eq!(refused(blank.await), (400, json!({"reason": ["This field may not be blank."]})));
    let unknown = ask(&client, Method::POST, lifecycle, json!({"event": "replay_converted"}));
    assert_eq!(
        refused(unknown.await),
        (400, json!({"event": ["\"replay_converted\" is not a valid choice."]}))
    );
    let ok = ask(&client, Method::POST, lifecycle, json!({"event": "replay_convert_start"})).await.unwrap();
    assert_eq!(ok["msg"], "ok");
    assert!(ok["id"].is_string());
    // Session PATCH: core's choices and types.
    let session = "/api/v1/terminal/sessions/sess-st/";
    let reason = ask(&client, Method::PATCH, session, json!({"error_reason": "convert_failed"}));
    assert_eq!(refused(reason.await).0, 400);
    let size = ask(&client, Method::PATCH, session, json!({"has_replay": true, "replay_size": "big"}));
    assert_eq!(refused(size.await), (400, json!({"replay_size": ["A valid integer is required."]})));
    let patched = ask(&client, Method::PATCH, session, json!({"has_replay": true, "replay_size": 7}));
    assert_eq!(patched.await.unwrap()["has_replay"], true);
    // Replay upload: version 2..5, else 401 {"msg"} (sic); 201 {"url"} when stored.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sess-st.0.part.mp4");
    std::fs::write(&file, b"mp4").unwrap();
    let six = refused(client.upload_replay("sess-st", 6, &file, "sess-st.0.part.mp4").await);
    assert_eq!(six, (401, json!({"msg": {"version": ["Ensure this value is less than or equal to 5."]}})));
    let stored = client.upload_replay("sess-st", 5, &file, "sess-st.0.part.mp4").await.unwrap();
    assert!(stored["url"].as_str().unwrap().ends_with("/sess-st/sess-st.0.part.mp4"), "{stored}");
    // A session core does not have: 404, on every session call.
    core.with(|c| c.gone_sessions.insert("sess-gone".into()));
    let gone = ask(
        &client,
        Method::POST,
        "/api/v1/terminal/sessions/sess-gone/lifecycle_log/",
        json!({"event": "replay_upload_start"}),
    );
    assert_eq!(refused(gone.await), (404, json!({"detail": "Not found."})));
    // A chunked multipart body reaches Django empty: its file is missing.
    let key = client.key().unwrap();
    let path = "/api/v1/terminal/sessions/sess-st/replay/";
    let date = http_date();
    let body =
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n\r\nmp4\r\n--b--\r\n";
    let http = reqwest::Client::new();
    let chunked = http
        .post(format!("{}{path}", core.url))
        .header("Date", &date)
        .header("Authorization", video_worker::jumpserver::signer::authorization(&key, "POST", path, &date))
        .header("X-JMS-ORG", "ROOT")
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body(reqwest::Body::wrap_stream(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(body))
        })))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status().as_u16(), 401);
    assert_eq!(
        chunked.json::<serde_json::Value>().await.unwrap(),
        json!({"msg": {"file": ["No file was submitted."]}})
    );
    // A signature whose headers leave out date: core's 500 is an HTML page.
    let profile = "/api/v1/users/profile/";
    let no_date = video_worker::jumpserver::signer::authorization(&key, "GET", profile, &date)
        .replace("headers=\"(request-target) date\"", "headers=\"(request-target)\"");
    let page = http
        .get(format!("{}{profile}", core.url))
        .header("Date", &date)
        .header("Authorization", no_date)
        .header("X-JMS-ORG", "ROOT")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 500);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("<h1>Server Error (500)</h1>"));
}

/// Signed ProfileAuth headers for `key`, distinct for each `n` (so no
/// cached answer stands in for core's).
fn profile_signed(key: &video_worker::jumpserver::signer::AccessKey, n: usize) -> (String, String) {
    let date = format!("{} {n}", video_worker::jumpserver::signer::http_date());
    (video_worker::jumpserver::signer::authorization(key, "GET", "/api/v1/users/profile/", &date), date)
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_signatures_are_refused_without_asking_core() {
    use video_worker::jumpserver::gateway_auth::{Credentials, Denied, GatewayAuth};
    use video_worker::jumpserver::signature_header::Malformed;
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-malformed").await;
    let lion = client.register("lion-malformed", TOKEN).await.unwrap();
    let auth = GatewayAuth::new(client.clone());
    let (good, date) = profile_signed(&lion, 0);
    let replaced = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    let cases = [
        // Lion's signature without `date` in its headers: the one core answers with a 500 page.
        (
            replaced("headers=\"(request-target) date\"", "headers=\"(request-target)\""),
            &date,
            Malformed::SignedHeaders,
        ),
        (replaced("headers=\"(request-target) date\",", ""), &date, Malformed::MissingParameter("headers")),
        (replaced("hmac-sha256", "hmac-sha1"), &date, Malformed::Algorithm),
        (replaced("signature=\"", "signature=\"!!"), &date, Malformed::NotBase64),
        (replaced("keyId=\"", "keyId="), &date, Malformed::Syntax),
        ("Bearer 0123456789abcdef".to_string(), &date, Malformed::NotASignature),
        (good.clone(), &String::new(), Malformed::NoDate),
    ];
    for (authorization, date, want) in &cases {
        let c = Credentials { authorization, date, org: "ROOT" };
        assert_eq!(auth.check(&c).await, Err(Denied::Malformed(*want)), "{authorization}");
    }
    core.with(|c| {
        assert_eq!(c.profile_calls, Vec::<String>::new(), "core is never asked about a malformed signature");
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
    });
    // The well-formed one is core's to judge, and passes.
    let c = Credentials { authorization: &good, date: &date, org: "ROOT" };
    assert!(auth.check(&c).await.is_ok());
    assert_eq!(core.with(|c| c.profile_calls.len()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn core_s_refusals_are_remembered_briefly_and_its_outages_not_at_all() {
    use common::fake_core::ProfileFault;
    use video_worker::jumpserver::gateway_auth::{Credentials, Denied, GatewayAuth};
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-judge").await;
    let lion = client.register("lion-judge", TOKEN).await.unwrap();
    let auth = GatewayAuth::new(client.clone());
    let calls = || core.with(|c| c.profile_calls.len());
    // Core's own "no"s, and a 200 that is not a user: refused, and remembered.
    let refusals = [
        ProfileFault::status(401),
        ProfileFault::status(403),
        ProfileFault::status(400),
        ProfileFault::Answer(200, "text/html", "<html>login</html>".into()),
    ];
    for (n, fault) in refusals.into_iter().enumerate() {
        core.with(|c| c.profile_faults.push_back(fault));
        let (signed, date) = profile_signed(&lion, n);
        let c = Credentials { authorization: &signed, date: &date, org: "ROOT" };
        match auth.check(&c).await {
            Err(Denied::Refused(why)) => assert!(!why.contains('{') && !why.contains('<'), "{n}: {why}"),
            other => panic!("answer {n} of core is a refusal: {other:?}"),
        }
        let before = calls();
        assert!(matches!(auth.check(&c).await, Err(Denied::Refused(_))), "still refused");
        assert_eq!(calls(), before, "a refusal is remembered for the short deny TTL");
    }
    // Core not answering now: open, and not remembered. The very same
    // headers pass at once when core is back.
    let outages = [500, 502, 503, 504, 429].map(ProfileFault::status);
    for (n, fault) in outages.into_iter().enumerate() {
        core.with(|c| c.profile_faults.push_back(fault));
        let (signed, date) = profile_signed(&lion, 100 + n);
        let c = Credentials { authorization: &signed, date: &date, org: "ROOT" };
        match auth.check(&c).await {
            Err(Denied::Unavailable(why)) => {
                assert!(
                    !why.contains('<') && !why.contains("Server Error") && !why.contains("throttled"),
                    "{why}"
                )
            }
            other => panic!("outage {n} leaves the question open: {other:?}"),
        }
        let before = calls();
        assert_eq!(auth.check(&c).await, Ok("vw".to_string()), "core is asked again and says yes");
        assert_eq!(calls(), before + 1);
    }
    core.with(|c| assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_core_is_an_outage_within_the_time_limit_and_a_core_out_of_reach_too() {
    use common::fake_core::ProfileFault;
    use video_worker::jumpserver::core_client::CoreClient;
    use video_worker::jumpserver::gateway_auth::{Credentials, Denied, GatewayAuth};
    let core = FakeCore::start(true);
    let client = registered(&core, "vw-hung").await;
    let lion = client.register("lion-hung", TOKEN).await.unwrap();
    let auth = GatewayAuth::with_timeout(client.clone(), Duration::from_millis(300));
    core.with(|c| c.profile_faults.push_back(ProfileFault::Hang));
    let (signed, date) = profile_signed(&lion, 0);
    let c = Credentials { authorization: &signed, date: &date, org: "ROOT" };
    let started = Instant::now();
    let verdict = auth.check(&c).await;
    let waited = started.elapsed();
    assert!(matches!(verdict, Err(Denied::Unavailable(_))), "{verdict:?}");
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(core.with(|c| c.profile_calls.len()), 1, "core took the call and never answered");
    assert!(auth.check(&c).await.is_ok(), "nothing was remembered: core is back and says yes");
    // The default limit is seconds, not the 30 s of the worker's own calls.
    assert!(video_worker::jumpserver::gateway_auth::CHECK_TIMEOUT <= Duration::from_secs(10));
    // Nobody listening where core should be.
    let port = common::server::free_port();
    let nowhere = Arc::new(CoreClient::new(&format!("http://127.0.0.1:{port}"), false).unwrap());
    let auth = GatewayAuth::new(nowhere);
    match auth.check(&c).await {
        Err(Denied::Unavailable(why)) => assert!(!why.contains(&port.to_string()), "{why}"),
        other => panic!("a core out of reach leaves the question open: {other:?}"),
    }
}

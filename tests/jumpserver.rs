//! The worker against a fake JumpServer core that is as strict as the real
//! one about what it checks: the bootstrap token, the 300-second
//! registration window, unique names, and an HTTP signature (made with the
//! secret it issued) plus `X-JMS-ORG` on every later call.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use common::server::Server;

const TOKEN: &str = "bootstrap-Zm9vYmFyYmF6cXV4";

#[derive(Default)]
struct Core {
    window_open: bool,
    keys: HashMap<String, String>,
    names: HashSet<String>,
    registrations: Vec<Value>,
    heartbeats: Vec<Value>,
    ws_heartbeats: Vec<Value>,
    ws_disabled: bool,
    finished_tasks: Vec<String>,
    replays: Vec<ReceivedReplay>,
    /// (session, body) of every session PATCH and lifecycle event.
    session_patches: Vec<(String, Value)>,
    lifecycle: Vec<(String, Value)>,
    config_reads: u32,
    profile_reads: u32,
    /// Keys that belong to people, not components.
    humans: HashSet<String>,
    bad_calls: Vec<String>,
}

/// One replay upload as core received it.
struct ReceivedReplay {
    session: String,
    version: String,
    name: String,
    data: Vec<u8>,
    content_length: Option<String>,
    chunked: bool,
}

type Shared = Arc<Mutex<Core>>;

struct FakeCore {
    state: Shared,
    url: String,
}

impl FakeCore {
    fn start(window_open: bool) -> FakeCore {
        let state: Shared = Arc::new(Mutex::new(Core { window_open, ..Core::default() }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/api/v1/terminal/terminal-registrations/", post(register))
            .route("/api/v1/users/profile/", get(profile))
            .route("/api/v1/terminal/terminals/config/", get(config))
            .route("/api/v1/terminal/terminals/status/", post(status))
            .route("/api/v1/terminal/tasks/{id}/", axum::routing::patch(finish_task))
            .route("/ws/terminal-task/", get(terminal_ws))
            .route("/api/v1/terminal/sessions/{sid}/replay/", post(replay_upload))
            .route("/api/v1/terminal/sessions/{sid}/", axum::routing::patch(session_call))
            .route("/api/v1/terminal/sessions/{sid}/lifecycle_log/", post(session_call))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(state.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        FakeCore { state, url }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn wait(&self, what: &str, check: impl Fn(&Core) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(&self.state.lock().unwrap()) {
            assert!(Instant::now() < deadline, "fake core never saw {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn register(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut core = s.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("BootstrapToken {TOKEN}") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "bad bootstrap token"})));
    }
    if !core.window_open {
        return (StatusCode::FORBIDDEN, Json(json!({"detail": "registration closed"})));
    }
    let name = body["name"].as_str().unwrap_or("").to_string();
    if body["type"] != "video_worker" || name.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"type": ["invalid"]})));
    }
    if !core.names.insert(name.clone()) {
        return (StatusCode::BAD_REQUEST, Json(json!({"name": ["name not unique"]})));
    }
    let n = core.registrations.len();
    let (id, secret) = (format!("ak-{n:04}-uuid"), format!("S3cr3t{n:030}"));
    core.keys.insert(id.clone(), secret.clone());
    core.registrations.push(body.clone());
    let answer = json!({"name": name, "type": "video_worker", "comment": body["comment"],
        "service_account": {"id": "sa", "name": name, "access_key": {"id": id, "secret": secret, "is_active": true}},
        "remote_addr": "127.0.0.1"});
    (StatusCode::CREATED, Json(answer))
}

/// Checks a signed call exactly as core's SignatureAuthentication does.
fn verify(core: &mut Core, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<String, StatusCode> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let fail = |core: &mut Core, why: &str| {
        core.bad_calls.push(format!("{method} {uri}: {why}"));
        Err(StatusCode::UNAUTHORIZED)
    };
    // sdk-go sends no X-JMS-ORG on the WebSocket upgrade, and core does not need it there.
    if header("x-jms-org") != "ROOT" && uri.path() != "/ws/terminal-task/" {
        return fail(core, "no X-JMS-ORG: ROOT");
    }
    let auth = header("authorization");
    let Some(params) = auth.strip_prefix("Signature ") else { return fail(core, "not a signature") };
    let fields: HashMap<&str, &str> = params
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    if fields.get("algorithm") != Some(&"hmac-sha256")
        || fields.get("headers") != Some(&"(request-target) date")
    {
        return fail(core, "wrong algorithm or headers");
    }
    let key_id = fields.get("keyId").copied().unwrap_or("");
    let Some(secret) = core.keys.get(key_id).cloned() else { return fail(core, "unknown key") };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let signing =
        format!("(request-target): {} {}\ndate: {}", method.as_str().to_lowercase(), path, header("date"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if fields.get("signature") != Some(&expected.as_str()) {
        return fail(core, "signature mismatch");
    }
    Ok(key_id.to_string())
}

async fn profile(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut core = s.lock().unwrap();
    match verify(&mut core, &method, &uri, &headers) {
        Ok(key) => {
            core.profile_reads += 1;
            let service = !core.humans.contains(&key);
            (StatusCode::OK, Json(json!({"id": key, "username": "vw", "is_service_account": service})))
        }
        Err(code) => (code, Json(json!({"detail": "Authentication credentials were not provided."}))),
    }
}

async fn config(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut core = s.lock().unwrap();
    if let Err(code) = verify(&mut core, &method, &uri, &headers) {
        return (code, Json(json!({})));
    }
    core.config_reads += 1;
    let storage = json!({"TYPE": "s3", "BUCKET": "replays", "ACCESS_KEY": "AKIA", "SECRET_KEY": "s3-secret-value",
                         "ENDPOINT": "http://127.0.0.1:9"});
    (StatusCode::OK, Json(json!({"TERMINAL_REPLAY_STORAGE": storage, "TERMINAL_HEARTBEAT_INTERVAL": 20})))
}

async fn status(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut core = s.lock().unwrap();
    if let Err(code) = verify(&mut core, &method, &uri, &headers) {
        return (code, Json(json!({})));
    }
    core.heartbeats.push(body);
    (StatusCode::CREATED, Json(json!([])))
}

async fn finish_task(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let mut core = s.lock().unwrap();
    if verify(&mut core, &method, &uri, &headers).is_err() || body != json!({"is_finished": true}) {
        return StatusCode::UNAUTHORIZED;
    }
    let id = uri.path().trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string();
    core.finished_tasks.push(id);
    StatusCode::OK
}

/// Core's terminal-task socket: a signed upgrade, status messages in, tasks out (binary).
async fn terminal_ws(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: axum::extract::WebSocketUpgrade,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    {
        let mut core = s.lock().unwrap();
        if core.ws_disabled {
            return StatusCode::NOT_FOUND.into_response();
        }
        if let Err(code) = verify(&mut core, &method, &uri, &headers) {
            return code.into_response();
        }
    }
    ws.on_upgrade(move |mut socket| async move {
        use axum::extract::ws::Message;
        let tasks = json!([{"id": "task-7", "name": "kill_session", "args": "some-session", "kwargs": {}}]);
        let _ = socket.send(Message::Binary(tasks.to_string().into_bytes().into())).await;
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                s.lock().unwrap().ws_heartbeats.push(v);
            }
        }
    })
    .into_response()
}

/// Core's replay upload: a signed multipart form (`version`, `file`).
async fn replay_upload(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> (StatusCode, Json<Value>) {
    if let Err(code) = verify(&mut s.lock().unwrap(), &method, &uri, &headers) {
        return (code, Json(json!({"msg": "auth"})));
    }
    let content_length = headers.get("content-length").and_then(|v| v.to_str().ok()).map(String::from);
    let chunked = headers.get("transfer-encoding").is_some();
    let (mut version, mut name, mut data) = (String::new(), String::new(), Vec::new());
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("version") => version = field.text().await.unwrap_or_default(),
            Some("file") => {
                name = field.file_name().unwrap_or("").to_string();
                data = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            }
            _ => {}
        }
    }
    let sid = uri.path().split('/').nth(5).unwrap_or("").to_string();
    let replay = ReceivedReplay { session: sid, version, name, data, content_length, chunked };
    s.lock().unwrap().replays.push(replay);
    (StatusCode::CREATED, Json(json!({"url": "/media/replay/x"})))
}

fn session_of(uri: &Uri) -> String {
    uri.path().split('/').nth(5).unwrap_or("").to_string()
}

/// A session PATCH or lifecycle event, recorded by the session it names.
async fn session_call(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let mut core = s.lock().unwrap();
    if verify(&mut core, &method, &uri, &headers).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let entry = (session_of(&uri), body);
    if uri.path().ends_with("/lifecycle_log/") {
        core.lifecycle.push(entry);
        StatusCode::CREATED
    } else {
        core.session_patches.push(entry);
        StatusCode::OK
    }
}

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
    assert_eq!(health["status"], "ok");
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
    use video_worker::storage::Storage;
    use video_worker::storage::core::CoreStorage;
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
    let forged = good.replace("signature=\"", "signature=\"AAAA");
    let other_path = authorization(&lion, "POST", "/api/v2/replay/sessions/x/task/", &date);
    let human = authorization(&person, "GET", "/api/v1/users/profile/", &date);
    for bad in [forged, other_path, human] {
        let c = Credentials { authorization: &bad, date: &date, org: "ROOT" };
        assert!(matches!(auth.check(&c).await, Err(Denied::Refused(_))), "{bad}");
    }
    assert_eq!(auth.check(&creds("")).await, Err(Denied::Missing));
    core.with(|c| assert_eq!(c.bad_calls.len(), 2, "core saw the two bad signatures: {:?}", c.bad_calls));
}

//! A fake JumpServer core that is as strict as the real one about what it
//! checks: the bootstrap token, the 300-second registration window, unique
//! names, and an HTTP signature (made with the secret it issued) plus
//! `X-JMS-ORG` on every later call. It records what the worker sends and
//! can fail on demand.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

pub const TOKEN: &str = "bootstrap-Zm9vYmFyYmF6cXV4";

#[derive(Default)]
pub struct Core {
    pub window_open: bool,
    pub keys: HashMap<String, String>,
    pub names: HashSet<String>,
    pub registrations: Vec<Value>,
    pub heartbeats: Vec<Value>,
    pub ws_heartbeats: Vec<Value>,
    pub ws_disabled: bool,
    pub finished_tasks: Vec<String>,
    pub replays: Vec<ReceivedReplay>,
    /// (session, body) of every session PATCH and lifecycle event.
    pub session_patches: Vec<(String, Value)>,
    pub lifecycle: Vec<(String, Value)>,
    pub config_reads: u32,
    pub profile_reads: u32,
    /// Keys that belong to people, not components.
    pub humans: HashSet<String>,
    pub bad_calls: Vec<String>,
    /// `TERMINAL_REPLAY_STORAGE` to serve (an unreachable S3 when unset).
    pub storage: Option<Value>,
    /// Answer replay uploads with 503 (core's storage is down).
    pub fail_replays: bool,
    /// Answer session PATCHes with 503.
    pub fail_patches: bool,
    /// Hold replay uploads and session calls this long (a slow core).
    pub delay_ms: u64,
}

/// One replay upload as core received it.
pub struct ReceivedReplay {
    pub session: String,
    pub version: String,
    pub name: String,
    pub data: Vec<u8>,
    pub content_length: Option<String>,
    pub chunked: bool,
}

pub type Shared = Arc<Mutex<Core>>;

pub struct FakeCore {
    pub state: Shared,
    pub url: String,
}

impl FakeCore {
    pub fn start(window_open: bool) -> FakeCore {
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

    pub fn with<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Waits (up to 90 s: conversions and storage retries run under the
    /// load of the whole test suite) until `check` holds.
    pub fn wait(&self, what: &str, check: impl Fn(&Core) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
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
    if !matches!(body["type"].as_str(), Some("video_worker" | "lion")) || name.is_empty() {
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
    let storage = core.storage.clone().unwrap_or_else(|| {
        json!({"TYPE": "s3", "BUCKET": "replays", "ACCESS_KEY": "AKIA", "SECRET_KEY": "s3-secret-value",
               "ENDPOINT": "http://127.0.0.1:9"})
    });
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
    if s.lock().unwrap().fail_replays {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"msg": "storage down"})));
    }
    let delay = s.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
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
    let delay = s.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut core = s.lock().unwrap();
    if verify(&mut core, &method, &uri, &headers).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let entry = (session_of(&uri), body);
    if core.fail_patches && method == Method::PATCH {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if uri.path().ends_with("/lifecycle_log/") {
        core.lifecycle.push(entry);
        StatusCode::CREATED
    } else {
        core.session_patches.push(entry);
        StatusCode::OK
    }
}

impl FakeCore {
    /// Registers a component (a gateway) and returns its access key `(id, secret)`.
    pub fn register_component(&self, name: &str) -> (String, String) {
        let agent = super::server::agent();
        let mut r = agent
            .post(format!("{}/api/v1/terminal/terminal-registrations/", self.url))
            .header("Authorization", format!("BootstrapToken {TOKEN}"))
            .header("Content-Type", "application/json")
            .send(json!({"name": name, "type": "lion", "comment": "lion"}).to_string())
            .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let key = &v["service_account"]["access_key"];
        (key["id"].as_str().unwrap().to_string(), key["secret"].as_str().unwrap().to_string())
    }
}

/// A worker registered with `core` that accepts gateways (it knows the
/// replay storage), with extra settings.
pub fn ready_worker(
    data: &std::path::Path,
    core: &FakeCore,
    name: &str,
    extra: &[(&str, &str)],
) -> super::server::Server {
    let mut env = vec![("CORE_HOST", core.url.as_str()), ("BOOTSTRAP_TOKEN", TOKEN), ("NAME", name)];
    env.extend_from_slice(extra);
    let server = super::server::Server::start(data, &env);
    wait_accepting(&server);
    server
}

/// Waits until the worker's health says it accepts gateways.
pub fn wait_accepting(server: &super::server::Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = server.get_json("/video-worker/health/");
        if h["core"]["accepting_gateways"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "the worker never got ready: {h}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl FakeCore {
    /// Waits until core was told `has_replay` for `sid`; returns that PATCH.
    pub fn wait_has_replay(&self, server: &super::server::Server, sid: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let found = self.with(|c| {
                c.session_patches
                    .iter()
                    .find(|(s, b)| s == sid && b["has_replay"] == true)
                    .map(|(_, b)| b.clone())
            });
            if let Some(patch) = found {
                return patch;
            }
            assert!(Instant::now() < deadline, "core never heard of the replay of {sid}\n{}", server.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

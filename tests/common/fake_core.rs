//! A fake JumpServer core that is as strict as the real one (v4.10,
//! `apps/terminal`, `apps/authentication`, DRF) about every endpoint the
//! worker calls: the bootstrap token, the 300-second registration window,
//! unique names; the HTTP signature (made with the secret it issued, the
//! signed headers as the request lists them) plus `X-JMS-ORG`; each body's
//! fields as core's serializers validate them; core's status codes (200 for
//! a lifecycle event, 201 for a replay) and the shape of its answers,
//! including the HTML page of its 500 when a signature leaves out `date`.
//! It records what it accepted (and every profile call it was asked),
//! notes in `bad_calls` everything the real core would refuse or silently
//! ignore, and fails on demand: a status of choice or a hang on the
//! profile call (`ProfileFault`), 503s elsewhere.
//!
//! What the real core does and which test pins it: docs/jumpserver.md,
//! "What core answers".
// A refused call's `Err` is the whole answer core gives, built once where
// core decides it; a test server has no use for boxing it.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

pub const TOKEN: &str = "bootstrap-Zm9vYmFyYmF6cXV4";

/// Core's `lifecycle_events_map` (`apps/terminal/session_lifecycle.py`): the
/// only names its `ChoiceField` takes.
pub const LIFECYCLE_EVENTS: [&str; 13] = [
    "asset_connect_success",
    "asset_connect_finished",
    "create_share_link",
    "user_join_session",
    "user_leave_session",
    "admin_join_monitor",
    "admin_exit_monitor",
    "replay_convert_start",
    "replay_convert_success",
    "replay_convert_failure",
    "replay_upload_start",
    "replay_upload_success",
    "replay_upload_failure",
];

/// Core's `SessionErrorReason` choices.
pub const ERROR_REASONS: [&str; 5] = [
    "connect_failed",
    "replay_create_failed",
    "replay_upload_failed",
    "replay_convert_failed",
    "replay_unsupported",
];

/// What Django serves for an unhandled exception with `DEBUG` off: a page,
/// not JSON. pyhttpsig raises one when the signed headers leave out `date`.
pub const SERVER_ERROR_PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";

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
    /// Replay uploads core took (answered 201).
    pub replays: Vec<ReceivedReplay>,
    /// (session, body) of every session PATCH core took (answered 200).
    pub session_patches: Vec<(String, Value)>,
    /// (session, body) of every lifecycle event core took (answered 200):
    /// what the session's activity log shows.
    pub lifecycle: Vec<(String, Value)>,
    /// (session, body) of every lifecycle event posted, taken or not.
    pub lifecycle_posts: Vec<(String, Value)>,
    pub config_reads: u32,
    pub profile_reads: u32,
    /// Keys that belong to people, not components.
    pub humans: HashSet<String>,
    /// Everything the worker sent that the real core refuses (a signature,
    /// a field) or silently ignores (an unknown field): `METHOD path: why`.
    pub bad_calls: Vec<String>,
    /// `TERMINAL_REPLAY_STORAGE` to serve (an unreachable S3 when unset).
    pub storage: Option<Value>,
    /// Replay uploads fail as core answers when its storage cannot save:
    /// 400 `{"msg": ...}`.
    pub fail_replays: bool,
    /// Answer session PATCHes with 503 (core behind its proxy is down).
    pub fail_patches: bool,
    /// Answer this many of the next lifecycle posts with 503.
    pub fail_lifecycle: u32,
    /// Sessions core no longer has (deleted): 404 for every call naming them.
    pub gone_sessions: HashSet<String>,
    /// What the next profile calls meet instead of core's check, one each,
    /// in order; once they are used up, calls are checked again.
    pub profile_faults: VecDeque<ProfileFault>,
    /// The `Authorization` of every call to the profile endpoint, answered
    /// or not ("" when there was none): which credentials core was asked about.
    pub profile_calls: Vec<String>,
    /// Hold replay uploads and session calls this long (a slow core).
    pub delay_ms: u64,
}

/// A profile call core does not check: it answers something else, or
/// nothing at all.
#[derive(Clone)]
pub enum ProfileFault {
    /// This status, content type and body.
    Answer(u16, &'static str, String),
    /// The connection is taken and never answered (a hung core).
    Hang,
}

impl ProfileFault {
    /// What core (or the proxy in front of it) answers with `status` when
    /// it does not check: Django's page for a 500, DRF's JSON for its own
    /// refusals and its throttle, nginx's page when core is down.
    pub fn status(status: u16) -> ProfileFault {
        let (content_type, body) = match status {
            500 => ("text/html; charset=utf-8", SERVER_ERROR_PAGE.to_string()),
            429 => (
                "application/json",
                r#"{"detail": "Request was throttled. Expected available in 5 seconds."}"#.into(),
            ),
            401 => ("application/json", r#"{"detail": "Invalid signature."}"#.into()),
            403 => (
                "application/json",
                r#"{"detail": "You do not have permission to perform this action."}"#.into(),
            ),
            400 => ("application/json", r#"{"detail": "JSON parse error"}"#.into()),
            s => ("text/html", format!("<html><body><h1>{s} Bad Gateway</h1><hr>nginx</body></html>")),
        };
        ProfileFault::Answer(status, content_type, body)
    }
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
        // Tests that build a core client themselves need the TLS provider the
        // service installs at start-up.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            .route("/api/v1/terminal/sessions/{sid}/", axum::routing::patch(session_patch))
            .route("/api/v1/terminal/sessions/{sid}/lifecycle_log/", post(lifecycle_log))
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

    /// The names of the lifecycle events core took for `sid`, in order.
    pub fn accepted_events(&self, sid: &str) -> Vec<String> {
        self.with(|c| {
            c.lifecycle
                .iter()
                .filter(|(s, _)| s == sid)
                .map(|(_, b)| b["event"].as_str().unwrap_or("").to_string())
                .collect()
        })
    }
}

fn json_answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn server_error_page() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        SERVER_ERROR_PAGE,
    )
        .into_response()
}

async fn register(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut core = s.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("BootstrapToken {TOKEN}") {
        return json_answer(401, json!({"detail": "bad bootstrap token"}));
    }
    if !core.window_open {
        return json_answer(403, json!({"detail": "registration closed"}));
    }
    let name = body["name"].as_str().unwrap_or("").to_string();
    if !matches!(body["type"].as_str(), Some("video_worker" | "lion")) || name.is_empty() {
        return json_answer(400, json!({"type": ["invalid"]}));
    }
    if !core.names.insert(name.clone()) {
        return json_answer(400, json!({"name": ["name not unique"]}));
    }
    let n = core.registrations.len();
    let (id, secret) = (format!("ak-{n:04}-uuid"), format!("S3cr3t{n:030}"));
    core.keys.insert(id.clone(), secret.clone());
    core.registrations.push(body.clone());
    let answer = json!({"name": name, "type": "video_worker", "comment": body["comment"],
        "service_account": {"id": "sa", "name": name, "access_key": {"id": id, "secret": secret, "is_active": true}},
        "remote_addr": "127.0.0.1"});
    json_answer(201, answer)
}

/// Checks a signed call as core's `SignatureAuthentication` does, in its
/// order: the fields keyId, algorithm and signature (else 401), a known key
/// (else 401), then pyhttpsig's `HeaderVerifier`, which raises (a 500, as
/// an HTML page) when the signed headers leave out `(request-target)` or
/// `date` or name a header the request lacks, and otherwise compares the
/// signature (else 401). The key's id when it passes.
fn verify(core: &mut Core, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<String, Response> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let fail = |core: &mut Core, why: &str| {
        core.bad_calls.push(format!("{method} {uri}: {why}"));
        Err(json_answer(401, json!({"detail": "Invalid signature."})))
    };
    // sdk-go sends no X-JMS-ORG on the WebSocket upgrade, and core does not need it there.
    if header("x-jms-org").as_deref() != Some("ROOT") && uri.path() != "/ws/terminal-task/" {
        return fail(core, "no X-JMS-ORG: ROOT");
    }
    let auth = header("authorization").unwrap_or_default();
    let Some(params) = auth.strip_prefix("Signature ") else {
        core.bad_calls.push(format!("{method} {uri}: not a signature"));
        return Err(json_answer(401, json!({"detail": "Authentication credentials were not provided."})));
    };
    let fields: HashMap<String, &str> = params
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
        .collect();
    let (Some(key_id), Some(algorithm), Some(signature)) =
        (fields.get("keyid"), fields.get("algorithm"), fields.get("signature"))
    else {
        return fail(core, "keyId, algorithm or signature missing");
    };
    let Some(secret) = core.keys.get(*key_id).cloned() else { return fail(core, "unknown key") };
    // httpsig's default when `headers` is absent is `date` alone.
    let signed: Vec<&str> = fields.get("headers").copied().unwrap_or("date").split_whitespace().collect();
    if !signed.contains(&"(request-target)") || !signed.contains(&"date") {
        core.bad_calls.push(format!(
            "{method} {uri}: the signed headers {signed:?} leave out (request-target) or date"
        ));
        return Err(server_error_page());
    }
    if *algorithm != "hmac-sha256" {
        return fail(core, "not hmac-sha256");
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut lines = Vec::new();
    for name in &signed {
        if *name == "(request-target)" {
            lines.push(format!("(request-target): {} {path}", method.as_str().to_lowercase()));
        } else if let Some(value) = header(name) {
            lines.push(format!("{name}: {value}"));
        } else {
            core.bad_calls.push(format!("{method} {uri}: signed header {name} is not in the request"));
            return Err(server_error_page());
        }
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(lines.join("\n").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if *signature != expected {
        return fail(core, "signature mismatch");
    }
    Ok(key_id.to_string())
}

async fn profile(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let fault = {
        let mut core = s.lock().unwrap();
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        core.profile_calls.push(auth.to_string());
        core.profile_faults.pop_front()
    };
    match fault {
        Some(ProfileFault::Answer(status, content_type, body)) => {
            let status = StatusCode::from_u16(status).unwrap();
            return (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        Some(ProfileFault::Hang) => std::future::pending::<()>().await,
        None => {}
    }
    let mut core = s.lock().unwrap();
    match verify(&mut core, &method, &uri, &headers) {
        Ok(key) => {
            core.profile_reads += 1;
            let service = !core.humans.contains(&key);
            json_answer(200, json!({"id": key, "username": "vw", "is_service_account": service}))
        }
        Err(answer) => answer,
    }
}

async fn config(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let mut core = s.lock().unwrap();
    if let Err(answer) = verify(&mut core, &method, &uri, &headers) {
        return answer;
    }
    core.config_reads += 1;
    let storage = core.storage.clone().unwrap_or_else(|| {
        json!({"TYPE": "s3", "BUCKET": "replays", "ACCESS_KEY": "AKIA", "SECRET_KEY": "s3-secret-value",
               "ENDPOINT": "http://127.0.0.1:9"})
    });
    json_answer(200, json!({"TERMINAL_REPLAY_STORAGE": storage, "TERMINAL_HEARTBEAT_INTERVAL": 20}))
}

async fn status(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut core = s.lock().unwrap();
    if let Err(answer) = verify(&mut core, &method, &uri, &headers) {
        return answer;
    }
    core.heartbeats.push(body);
    // StatusViewSet.create: 201 with the pending tasks.
    json_answer(201, json!([]))
}

async fn finish_task(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut core = s.lock().unwrap();
    if let Err(answer) = verify(&mut core, &method, &uri, &headers) {
        return answer;
    }
    if body != json!({"is_finished": true}) {
        core.bad_calls.push(format!("{method} {uri}: {body} is not {{\"is_finished\": true}}"));
        return json_answer(400, json!({"is_finished": ["Must be a valid boolean."]}));
    }
    let id = uri.path().trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string();
    core.finished_tasks.push(id.clone());
    json_answer(200, json!({"id": id, "is_finished": true}))
}

/// Core's terminal-task socket: a signed upgrade, status messages in, tasks out (binary).
async fn terminal_ws(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: axum::extract::WebSocketUpgrade,
) -> Response {
    {
        let mut core = s.lock().unwrap();
        if core.ws_disabled {
            return StatusCode::NOT_FOUND.into_response();
        }
        if let Err(answer) = verify(&mut core, &method, &uri, &headers) {
            return answer;
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

fn session_of(uri: &Uri) -> String {
    uri.path().split('/').nth(5).unwrap_or("").to_string()
}

/// Permission and existence, as the session views check them: a person's
/// key gets 403 (`IsServiceAccount`, RBAC), a session core does not have 404.
fn session_access(core: &mut Core, key: &str, sid: &str, what: &str) -> Result<(), Response> {
    if core.humans.contains(key) {
        core.bad_calls.push(format!("{what}: a person's key"));
        return Err(json_answer(
            403,
            json!({"detail": "You do not have permission to perform this action."}),
        ));
    }
    if core.gone_sessions.contains(sid) {
        return Err(json_answer(404, json!({"detail": "Not found."})));
    }
    Ok(())
}

/// A JSON object body as DRF's JSONParser reads it, or its 415/400 (noted
/// among the bad calls, as `what`).
fn json_object(
    core: &mut Core,
    what: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, Response> {
    let parsed = parse_json_object(headers, body);
    if parsed.is_err() {
        core.bad_calls.push(format!("{what}: not a JSON object"));
    }
    parsed
}

fn parse_json_object(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Map<String, Value>, Response> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/json") {
        let detail = format!("Unsupported media type \"{content_type}\" in request.");
        return Err(json_answer(415, json!({ "detail": detail })));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let got = match other {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                _ => "int",
            };
            let message = format!("Invalid data. Expected a dictionary, but got {got}.");
            Err(json_answer(400, json!({"non_field_errors": [message]})))
        }
        Err(e) => Err(json_answer(400, json!({"detail": format!("JSON parse error - {e}")}))),
    }
}

/// A DRF `CharField(required=False)`: absent is fine; present, it must be a
/// string (or a number, which DRF turns into one) that is not blank once
/// trimmed, and not null.
fn optional_char(
    map: &serde_json::Map<String, Value>,
    name: &str,
    errors: &mut serde_json::Map<String, Value>,
) {
    let message = match map.get(name) {
        None => return,
        Some(Value::Null) => "This field may not be null.",
        Some(Value::String(s)) if s.trim().is_empty() => "This field may not be blank.",
        Some(Value::String(_) | Value::Number(_)) => return,
        Some(_) => "Not a valid string.",
    };
    errors.insert(name.into(), json!([message]));
}

/// `POST /api/v1/terminal/sessions/<sid>/lifecycle_log/` (SessionViewSet.lifecycle_log):
/// `SessionLifecycleLogSerializer` = `event` (a choice of core's events),
/// `reason` and `user` (optional, not blank); then the session; 200
/// `{"msg": "ok", "id": <activity log id>}`.
async fn lifecycle_log(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let delay = s.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut core = s.lock().unwrap();
    let key = match verify(&mut core, &method, &uri, &headers) {
        Ok(key) => key,
        Err(answer) => return answer,
    };
    let sid = session_of(&uri);
    let what = format!("{method} {}", uri.path());
    let posted = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    core.lifecycle_posts.push((sid.clone(), posted));
    if core.fail_lifecycle > 0 {
        core.fail_lifecycle -= 1;
        return json_answer(503, json!({"detail": "core is restarting"}));
    }
    if let Err(answer) = session_access(&mut core, &key, &sid, &what) {
        return answer;
    }
    let map = match json_object(&mut core, &what, &headers, &body) {
        Ok(map) => map,
        Err(answer) => return answer,
    };
    let mut errors = serde_json::Map::new();
    match map.get("event") {
        None => drop(errors.insert("event".into(), json!(["This field is required."]))),
        Some(Value::String(e)) if LIFECYCLE_EVENTS.contains(&e.as_str()) => {}
        Some(other) => {
            let shown = other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string());
            errors.insert("event".into(), json!([format!("\"{shown}\" is not a valid choice.")]));
        }
    }
    optional_char(&map, "reason", &mut errors);
    optional_char(&map, "user", &mut errors);
    if !errors.is_empty() {
        let errors = Value::Object(errors);
        core.bad_calls.push(format!("{what}: 400 {errors}"));
        return json_answer(400, errors);
    }
    for field in map.keys().filter(|k| !["event", "reason", "user"].contains(&k.as_str())) {
        core.bad_calls.push(format!("{what}: core ignores the field {field:?}"));
    }
    let id = format!("00000000-0000-4000-8000-{:012}", core.lifecycle.len());
    core.lifecycle.push((sid, Value::Object(map)));
    json_answer(200, json!({"msg": "ok", "id": id}))
}

/// `PATCH /api/v1/terminal/sessions/<sid>/` (SessionViewSet, SessionSerializer,
/// partial): `has_replay` a boolean, `replay_size` an integer, `error_reason`
/// a `SessionErrorReason`; other fields the worker has no business sending
/// are ignored by core (noted here). 200 with the session.
async fn session_patch(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let delay = s.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut core = s.lock().unwrap();
    let key = match verify(&mut core, &method, &uri, &headers) {
        Ok(key) => key,
        Err(answer) => return answer,
    };
    if core.fail_patches {
        return json_answer(503, json!({"detail": "core is restarting"}));
    }
    let sid = session_of(&uri);
    let what = format!("{method} {}", uri.path());
    if let Err(answer) = session_access(&mut core, &key, &sid, &what) {
        return answer;
    }
    let map = match json_object(&mut core, &what, &headers, &body) {
        Ok(map) => map,
        Err(answer) => return answer,
    };
    let mut errors = serde_json::Map::new();
    for (field, value) in &map {
        let problem = match field.as_str() {
            // DRF's BooleanField also takes "true", 1 and the like.
            "has_replay" | "is_finished" | "is_success" => {
                let ok = value.is_boolean()
                    || matches!(value.as_i64(), Some(0 | 1))
                    || value.as_str().is_some_and(|s| {
                        ["true", "false", "1", "0", "yes", "no", "on", "off"]
                            .contains(&s.to_lowercase().as_str())
                    });
                (!ok).then(|| "Must be a valid boolean.".to_string())
            }
            "replay_size" => match value {
                Value::Number(n) if n.as_u64().is_some() => None,
                Value::Number(_) => Some("Ensure this value is greater than or equal to 0.".into()),
                _ => Some("A valid integer is required.".into()),
            },
            "error_reason" => match value.as_str() {
                Some(r) if ERROR_REASONS.contains(&r) => None,
                _ => Some(format!(
                    "\"{}\" is not a valid choice.",
                    value.as_str().unwrap_or(&value.to_string())
                )),
            },
            "date_end" | "comment" => None,
            other => {
                core.bad_calls.push(format!("{what}: core ignores the field {other:?}"));
                None
            }
        };
        if let Some(message) = problem {
            errors.insert(field.clone(), json!([message]));
        }
    }
    if !errors.is_empty() {
        let errors = Value::Object(errors);
        core.bad_calls.push(format!("{what}: 400 {errors}"));
        return json_answer(400, errors);
    }
    let mut session = json!({"id": sid, "has_replay": false, "error_reason": null});
    for (k, v) in &map {
        session[k] = v.clone();
    }
    core.session_patches.push((sid, Value::Object(map)));
    json_answer(200, session)
}

/// `POST /api/v1/terminal/sessions/<sid>/replay/` (SessionReplayViewSet.create):
/// the session (404), then `ReplaySerializer` = `file` (a file part; required)
/// and `version` (an integer 2..5, default 2). Invalid: **401** `{"msg":
/// <errors>}` (sic); a save that fails: 400 `{"msg"}`; stored: 201 `{"url"}`.
/// Django reads a multipart body by its `Content-Length`: a chunked one
/// arrives empty, so its file is missing.
async fn replay_upload(State(s): State<Shared>, request: axum::extract::Request) -> Response {
    use axum::extract::FromRequest;
    let (method, uri, headers) = (request.method().clone(), request.uri().clone(), request.headers().clone());
    let sid = session_of(&uri);
    let what = format!("{method} {}", uri.path());
    {
        let mut core = s.lock().unwrap();
        let key = match verify(&mut core, &method, &uri, &headers) {
            Ok(key) => key,
            Err(answer) => return answer,
        };
        if let Err(answer) = session_access(&mut core, &key, &sid, &what) {
            return answer;
        }
    }
    let delay = s.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let content_length = headers.get("content-length").and_then(|v| v.to_str().ok()).map(String::from);
    let chunked = headers.get("transfer-encoding").is_some();
    let invalid = |core: &mut Core, errors: Value| {
        core.bad_calls.push(format!("{what}: 401 {errors}"));
        json_answer(401, json!({ "msg": errors }))
    };
    if chunked || content_length.is_none() {
        let mut core = s.lock().unwrap();
        return invalid(&mut core, json!({"file": ["No file was submitted."]}));
    }
    let Ok(mut form) = axum::extract::Multipart::from_request(request, &()).await else {
        let mut core = s.lock().unwrap();
        let message = "The submitted data was not a file. Check the encoding type on the form.";
        return invalid(&mut core, json!({"file": [message]}));
    };
    let (mut version, mut file): (Option<String>, Option<(String, Vec<u8>)>) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().map(str::to_string);
                let file_name = field.file_name().map(str::to_string);
                let Ok(data) = field.bytes().await else {
                    // The upload broke off: nothing is saved.
                    return json_answer(400, json!({"detail": "Multipart form parse error"}));
                };
                match (name.as_deref(), file_name) {
                    (Some("version"), _) => version = Some(String::from_utf8_lossy(&data).to_string()),
                    (Some("file"), Some(f)) => file = Some((f, data.to_vec())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return json_answer(400, json!({"detail": "Multipart form parse error"})),
        }
    }
    let mut core = s.lock().unwrap();
    let mut errors = serde_json::Map::new();
    if file.is_none() {
        errors.insert("file".into(), json!(["No file was submitted."]));
    }
    let version = match version.as_deref().map(|v| v.trim().parse::<i64>()) {
        None => 2,
        Some(Ok(v)) if (2..=5).contains(&v) => v,
        Some(Ok(v)) if v < 2 => {
            errors.insert("version".into(), json!(["Ensure this value is greater than or equal to 2."]));
            v
        }
        Some(Ok(v)) => {
            errors.insert("version".into(), json!(["Ensure this value is less than or equal to 5."]));
            v
        }
        Some(Err(_)) => {
            errors.insert("version".into(), json!(["A valid integer is required."]));
            0
        }
    };
    if !errors.is_empty() {
        return invalid(&mut core, Value::Object(errors));
    }
    if core.fail_replays {
        return json_answer(400, json!({"msg": "Failed save replay: the storage is unreachable"}));
    }
    let (name, data) = file.unwrap_or_default();
    let url = format!("/media/replay/2025-11-13/{sid}/{name}");
    let replay =
        ReceivedReplay { session: sid, version: version.to_string(), name, data, content_length, chunked };
    core.replays.push(replay);
    json_answer(201, json!({ "url": url }))
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

//! The legacy gateway protocol (Lion v3.3 to v4.1): one multipart form on
//! the create path carries the whole recording (text fields `session_id`,
//! `component_type`, `file_type`, `session_date`, `width`, `height`,
//! `bitrate`, then `file`) and is answered with the legacy task JSON. Old
//! Lions also log in with `GET /api/v1/users/profile/` (answered with a
//! session cookie) and keep `/ws/events/` (subprotocol `JMS-Video-Worker`)
//! open, pinging every 30 s.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Gateways;
use super::gateway::{Refusal, authenticate, ready_link};
use crate::jumpserver::legacy_session::COOKIE;
use crate::jumpserver::replay_meta::is_plain_date;
use crate::pipeline::gateway_job::{GatewayJob, TaskConfig};
use crate::pipeline::intake::{Intake, IntakeError, NewTask};
use crate::pipeline::model::{Origin, Task, now_ms};

/// Longest accepted text field.
const MAX_FIELD: usize = 4096;

pub async fn create(
    g: &Gateways,
    account: &str,
    session_id: &str,
    request: Request,
) -> Result<Response, Refusal> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, m);
    let mut form =
        Multipart::from_request(request, &()).await.map_err(|e| bad(format!("not a multipart form: {e}")))?;
    let mut fields = BTreeMap::new();
    let mut intake: Option<Intake> = None;
    while let Some(field) = form.next_field().await.map_err(|e| bad(format!("the form is malformed: {e}")))? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if intake.is_some() {
                return Err(bad("the form has more than one file".into()));
            }
            let mut i = Intake::begin(&g.pipeline, new_task(session_id, &fields)?).await?;
            i.write_part(field).await?;
            intake = Some(i);
        } else {
            let text = field.text().await.map_err(|e| bad(format!("field {name}: {e}")))?;
            if text.len() > MAX_FIELD {
                return Err(bad(format!("field {name} is longer than {MAX_FIELD} bytes")));
            }
            fields.insert(name, text);
        }
    }
    let intake = intake.ok_or_else(|| bad("the form has no \"file\" field".into()))?;
    let id = intake.commit().await?;
    let task = g
        .pipeline
        .queue
        .get(&id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "the task vanished"))?;
    tracing::info!(task = %id, session = %session_id, bytes = task.input_bytes, gateway = %account, "legacy gateway recording accepted");
    Ok(Json(legacy_task(g, &task, &fields)).into_response())
}

fn new_task(session_id: &str, fields: &BTreeMap<String, String>) -> Result<NewTask, IntakeError> {
    if let Some(sid) = fields.get("session_id").filter(|s| !s.is_empty())
        && sid != session_id
    {
        return Err(IntakeError::BadRequest(format!(
            "session_id {sid:?} is not the session {session_id:?} of the path"
        )));
    }
    let date = fields.get("session_date").filter(|d| is_plain_date(d)).cloned();
    // Fields after the file are not part of the job: Lion sends them first.
    Ok(NewTask {
        session_id: Some(session_id.to_string()),
        metadata: serde_json::json!({}),
        origin: Origin::Gateway { job: GatewayJob::Legacy { fields: fields.clone() } },
        session_date: date,
    })
}

/// The task as legacy Lions log it.
fn legacy_task(g: &Gateways, task: &Task, fields: &BTreeMap<String, String>) -> Value {
    let config = TaskConfig::parse(&json!(fields));
    let dir = g.pipeline.task_dir(&task.id);
    let created = chrono::DateTime::from_timestamp_millis(task.created_at).unwrap_or_default();
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    json!({
        "id": task.id,
        "root_dir": dir.path(),
        "date_created": created.format("%Y-%m-%d %H:%M:%S %z").to_string(),
        "session_id": task.session_id,
        "component_type": field("component_type"),
        "file_type": field("file_type"),
        "session_date": task.session_date,
        "max_frame": config.max_frame,
        "width": config.width,
        "height": config.height,
        "bitrate": config.bitrate,
        "replay_mp4_path": dir.output_file(&format!("{}.replay.mp4", task.session_id)),
        "replay_path": dir.part(0),
        "status": task.state.as_str(),
        "error": "",
    })
}

/// `GET /api/v1/users/profile/`: an old Lion logging in. Its signature
/// covers exactly this path, so core can check it; the answer carries the
/// session cookie its later requests present.
pub async fn profile(State(g): State<Gateways>, headers: HeaderMap) -> Result<Response, Refusal> {
    let account = authenticate(&g, &headers).await?;
    let sessions = &ready_link(&g)?.legacy_sessions;
    let cookie =
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", sessions.issue(&account, now_ms() / 1000));
    let body = json!({ "username": account, "name": account, "is_service_account": true });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `GET /ws/events/`: old Lions keep this socket open and ping it.
pub async fn events(
    State(g): State<Gateways>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let account = authenticate(&g, &headers).await?;
    let shutdown = g.pipeline.shutdown.clone();
    Ok(ws.protocols(["JMS-Video-Worker"]).on_upgrade(move |socket| serve_events(socket, account, shutdown)))
}

async fn serve_events(mut socket: WebSocket, account: String, shutdown: tokio_util::sync::CancellationToken) {
    tracing::debug!(gateway = %account, "legacy event socket open");
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = socket.recv() => m,
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                let event = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["event"].as_str().map(String::from));
                if event.as_deref() == Some("ping") {
                    let pong = json!({"event": "pong", "timestamp": now_ms() / 1000}).to_string();
                    if socket.send(Message::Text(pong.into())).await.is_err() {
                        break;
                    }
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

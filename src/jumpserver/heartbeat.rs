//! The heartbeat: a status message every 30 s over core's WebSocket
//! (`/ws/terminal-task/`, the upgrade request signed like any call), with
//! the REST status endpoint as the fallback while the WebSocket is down.
//! Core pushes pending tasks over the same socket (a JSON array, usually in
//! a binary frame); a worker has no sessions to act on, so each task is
//! acknowledged as finished (`PATCH /api/v1/terminal/tasks/<id>/`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::core_client::{CoreClient, CoreError};
use super::host_stats;
use super::link::CoreLink;
use super::signer::{authorization, http_date};

pub const INTERVAL: Duration = Duration::from_secs(30);
const WS_PATH: &str = "/ws/terminal-task/";

/// The status payload core expects.
pub fn status(link: &CoreLink) -> Value {
    json!({
        "sessions": [],
        "session_online": 0,
        "cpu_load": host_stats::cpu_load(),
        "memory_used": host_stats::memory_used(),
        "disk_used": host_stats::disk_used(&link.identity.data_dir),
    })
}

/// Why a WebSocket session ended.
pub enum Ended {
    Shutdown,
    /// Core refused the key: register again.
    Unauthorized,
    Failed(String),
}

/// One WebSocket session: heartbeats until an error, shutdown, or 401.
pub async fn websocket(link: &CoreLink) -> Ended {
    let core = &*link.client;
    let Some(key) = core.key() else { return Ended::Unauthorized };
    let url = core.base().replacen("http", "ws", 1) + WS_PATH;
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return Ended::Failed(format!("bad WebSocket URL {url}: {e}")),
    };
    let date = http_date();
    let headers = request.headers_mut();
    for (name, value) in
        [("Date", date.clone()), ("Authorization", authorization(&key, "GET", WS_PATH, &date))]
    {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    }
    // The system's roots by default; a verifier that accepts anything with IGNORE_VERIFY_CERTS.
    let connector = core.insecure_tls().map(tokio_tungstenite::Connector::Rustls);
    let connected = tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector).await;
    let (socket, _) = match connected {
        Ok(s) => s,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401 => {
            return Ended::Unauthorized;
        }
        Err(e) => return Ended::Failed(format!("WebSocket to {url}: {e}")),
    };
    tracing::info!(url = %url, "heartbeat WebSocket connected");
    let (mut tx, mut rx) = socket.split();
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = link.shutdown.cancelled() => return Ended::Shutdown,
            _ = ticker.tick() => {
                let message = json!({"type": "status", "payload": status(link)}).to_string();
                if let Err(e) = tx.send(Message::text(message)).await {
                    return Ended::Failed(format!("sending a heartbeat: {e}"));
                }
            }
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Binary(data))) => acknowledge_tasks(core, &data).await,
                Some(Ok(Message::Text(text))) => acknowledge_tasks(core, text.as_bytes()).await,
                Some(Ok(Message::Close(_))) | None => return Ended::Failed("core closed the WebSocket".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Failed(format!("WebSocket: {e}")),
            },
        }
    }
}

/// Marks every task core pushed as finished: none applies to a worker.
async fn acknowledge_tasks(core: &CoreClient, data: &[u8]) {
    let Ok(Value::Array(tasks)) = serde_json::from_slice::<Value>(data) else { return };
    for task in tasks {
        let Some(id) = task["id"].as_str() else { continue };
        tracing::info!(task = %id, name = %task["name"], "core task acknowledged (no sessions on a worker)");
        let path = format!("/api/v1/terminal/tasks/{id}/");
        if let Err(e) = core.call(reqwest::Method::PATCH, &path, Some(&json!({"is_finished": true}))).await {
            tracing::warn!(task = %id, error = %e, "cannot acknowledge a core task");
        }
    }
}

/// The REST heartbeat, used while the WebSocket is down.
pub async fn rest(link: &CoreLink) -> Result<(), CoreError> {
    link.client.heartbeat(&status(link)).await.map(|_| ())
}

/// Runs heartbeats until shutdown (`Err`) or a 401 (`Ok`: register again).
pub async fn run(link: &CoreLink) -> Result<(), ()> {
    loop {
        match websocket(link).await {
            Ended::Shutdown => return Err(()),
            Ended::Unauthorized => return Ok(()),
            Ended::Failed(why) => {
                tracing::warn!(error = %why, "heartbeat WebSocket down; using the REST heartbeat");
                match rest(link).await {
                    Err(CoreError::Unauthorized) => return Ok(()),
                    Err(e) => link.set_error(Some(e.to_string())),
                    Ok(()) => {}
                }
            }
        }
        tokio::select! {
            _ = link.shutdown.cancelled() => return Err(()),
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

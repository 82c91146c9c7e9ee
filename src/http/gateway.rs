//! The gateways' API (JumpServer Lion), on the same port as everything else:
//! - `POST /api/v2/replay/sessions/<sid>/task/` with JSON (current protocol)
//!   announces a recording in parts and answers `{"id": <task>}`; with a
//!   multipart form (legacy protocol) it carries the whole recording and
//!   answers the legacy task (see `gateway_legacy`);
//! - `POST /api/v2/replay/sessions/<task>/task/upload/<index>` carries one
//!   part (multipart field `file`) and answers `{"ok": true, "error_message": ""}`.
//!
//! Callers authenticate with their JumpServer signature, which core checks
//! (`gateway_auth`), or with the cookie old Lions get (`legacy_session`).
//! The worker accepts nothing while it cannot reach core or does not know
//! where replays go: a gateway deletes its copy once the worker accepts.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::jumpserver::gateway_auth::{Credentials, Denied};
use crate::jumpserver::replay_meta::CreateRequest;
use crate::service::app::App;
use crate::tasks::intake::IntakeError;
use crate::tasks::model::{is_safe_id, now_ms};
use crate::tasks::parts::{self, PartError};

/// Longest accepted announcement (a `files[]` of thousands of parts fits).
const MAX_ANNOUNCEMENT: usize = 1 << 20;

/// An answer a gateway understands: JSON with a message, never the headers.
pub struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into() }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<IntakeError> for Refusal {
    fn from(e: IntakeError) -> Refusal {
        Refusal::new(intake_status(&e), e.to_string())
    }
}

fn intake_status(e: &IntakeError) -> StatusCode {
    match e {
        IntakeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        IntakeError::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
        IntakeError::Interrupted(_) | IntakeError::BadRequest(_) => StatusCode::BAD_REQUEST,
        IntakeError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The caller's account when it may hand recordings over.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<String, Refusal> {
    if let Some(why) = app.core.not_ready() {
        return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, why));
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let (Some(sessions), Some(cookie)) = (app.core.legacy_sessions.get(), headers.get(header::COOKIE))
        && let Some(account) = cookie.to_str().ok().and_then(|c| sessions.from_header(c, now_ms() / 1000))
    {
        return Ok(account);
    }
    let auth = app
        .core
        .gateway_auth
        .get()
        .ok_or_else(|| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "no core"))?;
    let credentials = Credentials {
        authorization: text(header::AUTHORIZATION.as_str()),
        date: text(header::DATE.as_str()),
        org: text("x-jms-org"),
    };
    auth.check(&credentials).await.map_err(|denied| match denied {
        Denied::Missing => Refusal::new(StatusCode::UNAUTHORIZED, "a JumpServer signature is required"),
        Denied::Refused(why) => Refusal::new(StatusCode::UNAUTHORIZED, format!("not authenticated: {why}")),
        Denied::Unavailable(why) => {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, format!("cannot check the caller with core: {why}"))
        }
    })
}

/// `POST /api/v2/replay/sessions/<sid>/task/`: JSON (current) or multipart (legacy).
pub async fn create(
    State(app): State<Arc<App>>,
    Path(session_id): Path<String>,
    request: Request,
) -> Result<Response, Refusal> {
    let account = authenticate(&app, request.headers()).await?;
    if !is_safe_id(&session_id) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "the session id is not a plain identifier"));
    }
    let _slot = super::admission::admit(&app).map_err(|(status, m)| Refusal::new(status, m))?;
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        return super::gateway_legacy::create(&app, &account, &session_id, request).await;
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_ANNOUNCEMENT).await.map_err(|e| {
        Refusal::new(StatusCode::BAD_REQUEST, format!("cannot read the body (at most 1 MiB): {e}"))
    })?;
    let announced = CreateRequest::parse(&session_id, &body, app.config.max_parts_per_task)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
    let count = announced.files.len();
    let id = parts::create(&app, &session_id, announced)?;
    tracing::info!(task = %id, session = %session_id, parts = count, gateway = %account, "gateway task created");
    Ok(Json(json!({ "id": id })).into_response())
}

/// `POST /api/v2/replay/sessions/<task>/task/upload/<index>`: one part.
pub async fn upload_part(
    State(app): State<Arc<App>>,
    Path((task_id, index)): Path<(String, String)>,
    request: Request,
) -> Response {
    if let Err(refusal) = authenticate(&app, request.headers()).await {
        return part_answer(refusal.status, &refusal.message);
    }
    let Ok(index) = index.parse::<usize>() else {
        return part_answer(StatusCode::BAD_REQUEST, "the part index must be a number");
    };
    // A part of an announced task is not new work: only the stream count applies.
    let Ok(_slot) = app.upload_slots.clone().try_acquire_owned() else {
        return part_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many uploads at once (MAX_CONCURRENT_UPLOADS)",
        );
    };
    match receive_part(&app, &task_id, index, request).await {
        Ok(received) => {
            tracing::info!(task = %task_id, part = index, bytes = received.size, complete = received.complete, "part received");
            part_answer(StatusCode::OK, "")
        }
        Err(e) => {
            tracing::warn!(task = %task_id, part = index, error = %e, "part refused");
            part_answer(part_status(&e), &e.to_string())
        }
    }
}

async fn receive_part(
    app: &Arc<App>,
    task_id: &str,
    index: usize,
    request: Request,
) -> Result<parts::Received, PartError> {
    let bad = |m: String| PartError::Intake(IntakeError::BadRequest(m));
    let mut form =
        Multipart::from_request(request, &()).await.map_err(|e| bad(format!("not a multipart form: {e}")))?;
    loop {
        let field = form.next_field().await.map_err(|e| bad(format!("the form is malformed: {e}")))?;
        let Some(field) = field else {
            return Err(bad("the form has no \"file\" field".into()));
        };
        if field.name() == Some("file") {
            return parts::receive(app, task_id, index, field).await;
        }
    }
}

fn part_status(e: &PartError) -> StatusCode {
    match e {
        PartError::NoTask(_) => StatusCode::NOT_FOUND,
        PartError::BadIndex { .. } | PartError::Checksum { .. } => StatusCode::BAD_REQUEST,
        PartError::Busy(_) => StatusCode::CONFLICT,
        PartError::Intake(i) => intake_status(i),
    }
}

/// The answer Lion decodes: `{"ok", "error_message"}`.
fn part_answer(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "ok": status.is_success(), "error_message": error }))).into_response()
}

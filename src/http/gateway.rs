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

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Gateways;
use super::error::ApiError;
use crate::jumpserver::gateway_auth::{Credentials, Denied};
use crate::jumpserver::link::CoreLink;
use crate::jumpserver::replay_meta::CreateRequest;
use crate::pipeline::gateway_job::GatewayJob;
use crate::pipeline::intake::IntakeError;
use crate::pipeline::model::{is_safe_id, now_ms};
use crate::pipeline::parts::{self, PartError};

/// Longest accepted announcement (a `files[]` of thousands of parts fits).
const MAX_ANNOUNCEMENT: usize = 1 << 20;

/// Seconds a gateway is told to wait before it asks again, when the
/// worker cannot take its recording now (core down or not yet ready).
const RETRY_AFTER_SECS: u32 = 5;

/// An answer a gateway understands: JSON with a message, never the headers.
pub struct Refusal {
    status: StatusCode,
    message: String,
    /// `Retry-After` seconds: the question is open, not answered "no".
    retry_after: Option<u32>,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into(), retry_after: None }
    }

    /// 503 with `Retry-After`: the worker cannot decide now; asking again
    /// in a few seconds can succeed.
    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// `status` and `body`, with `Retry-After` when there is one.
    fn respond(&self, body: serde_json::Value) -> Response {
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

impl Refusal {
    /// Says why the worker answered as it did. Refusals are by design (the
    /// gateway stores the recording itself): INFO for the caller's mistakes,
    /// WARN when the worker cannot take work now; ERROR only for its faults.
    fn log(&self) {
        let (status, reason) = (self.status.as_u16(), self.message.as_str());
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(status, reason, "gateway request failed");
        } else if self.status.is_server_error() {
            tracing::warn!(status, reason, "gateway request refused");
        } else {
            tracing::info!(status, reason, "gateway request refused");
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.log();
        self.respond(json!({ "error": self.message }))
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::new(e.status, e.message)
    }
}

impl From<IntakeError> for Refusal {
    fn from(e: IntakeError) -> Refusal {
        ApiError::from(e).into()
    }
}

/// The link to core, when gateways may hand recordings over now.
pub fn ready_link(g: &Gateways) -> Result<&CoreLink, Refusal> {
    let Some(link) = &g.link else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CORE_HOST is not set: this worker does not serve gateways",
        ));
    };
    if let Some(why) = link.not_ready() {
        return Err(Refusal::unavailable(why));
    }
    Ok(link)
}

/// The caller's account when it may hand recordings over.
pub async fn authenticate(g: &Gateways, headers: &HeaderMap) -> Result<String, Refusal> {
    let link = ready_link(g)?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(cookie) = headers.get(header::COOKIE)
        && let Some(account) =
            cookie.to_str().ok().and_then(|c| link.legacy_sessions.from_header(c, now_ms() / 1000))
    {
        return Ok(account);
    }
    let auth = &link.gateway_auth;
    let credentials = Credentials {
        authorization: text(header::AUTHORIZATION.as_str()),
        date: text(header::DATE.as_str()),
        org: text("x-jms-org"),
    };
    auth.check(&credentials).await.map_err(refusal_of)
}

/// What the gateway is told: 401 when its credentials are wrong (malformed,
/// or refused by core), 503 with `Retry-After` when core could not say.
fn refusal_of(denied: Denied) -> Refusal {
    let unauthorized = |why: String| Refusal::new(StatusCode::UNAUTHORIZED, why);
    match denied {
        Denied::Missing => unauthorized("a JumpServer signature is required".into()),
        Denied::Malformed(why) => unauthorized(format!("not authenticated: {why}")),
        Denied::Refused(why) => unauthorized(format!("not authenticated: {why}")),
        // The gateway keeps its recording and may retry.
        Denied::Unavailable(why) => Refusal::unavailable(format!("cannot check the caller with core: {why}")),
    }
}

/// `POST /api/v2/replay/sessions/<sid>/task/`: JSON (current) or multipart (legacy).
pub async fn create(
    State(g): State<Gateways>,
    Path(session_id): Path<String>,
    request: Request,
) -> Result<Response, Refusal> {
    let account = authenticate(&g, request.headers()).await?;
    if !is_safe_id(&session_id) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "the session id is not a plain identifier"));
    }
    let _slot = g.admission.admit(&*g.pipeline.queue).await?;
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        return super::gateway_legacy::create(&g, &account, &session_id, request).await;
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_ANNOUNCEMENT).await.map_err(|e| {
        Refusal::new(StatusCode::BAD_REQUEST, format!("cannot read the body (at most 1 MiB): {e}"))
    })?;
    let announced = CreateRequest::parse(&session_id, &body, g.max_parts_per_task)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
    let count = announced.files.len();
    let job = GatewayJob::Parts { config: announced.config, meta: announced.meta };
    let id = parts::create(&g.pipeline, &session_id, job, announced.session_date).await?;
    tracing::info!(task = %id, session = %session_id, parts = count, gateway = %account, "gateway task created");
    Ok(Json(json!({ "id": id })).into_response())
}

/// `POST /api/v2/replay/sessions/<task>/task/upload/<index>`: one part.
pub async fn upload_part(
    State(g): State<Gateways>,
    Path((task_id, index)): Path<(String, String)>,
    request: Request,
) -> Response {
    if let Err(refusal) = authenticate(&g, request.headers()).await {
        return refused_part(refusal);
    }
    let Ok(index) = index.parse::<usize>() else {
        return refused_part(Refusal::new(StatusCode::BAD_REQUEST, "the part index must be a number"));
    };
    // A part of an announced task is not new work: only the stream count applies.
    let _slot = match g.admission.stream_slot() {
        Ok(slot) => slot,
        Err(e) => return refused_part(e.into()),
    };
    match receive_part(&g, &task_id, index, request).await {
        Ok(received) => {
            tracing::info!(task = %task_id, part = index, bytes = received.size, complete = received.complete, "part received");
            part_answer(StatusCode::OK, "")
        }
        Err(e) => {
            let (status, message) = (super::error::status_of(e.code()), e.to_string());
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(task = %task_id, part = index, error = %e, "cannot receive the part");
            } else {
                tracing::warn!(task = %task_id, part = index, error = %e, "part refused");
            }
            part_answer(status, &message)
        }
    }
}

async fn receive_part(
    g: &Gateways,
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
            return parts::receive(&g.pipeline, task_id, index, field).await;
        }
    }
}

/// A refused part, logged, in the shape Lion decodes.
fn refused_part(refusal: Refusal) -> Response {
    refusal.log();
    refusal.respond(json!({ "ok": false, "error_message": refusal.message }))
}

/// The answer Lion decodes: `{"ok", "error_message"}`.
fn part_answer(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "ok": status.is_success(), "error_message": error }))).into_response()
}

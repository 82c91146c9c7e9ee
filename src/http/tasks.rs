//! The task resource: list, get, log, output (with HTTP ranges), retry.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::Api;
use super::error::ApiError;
use crate::pipeline::model::{State as TaskState, Task, is_safe_id};
use crate::pipeline::queue::ListQuery as Query_;

/// Tasks per page unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    /// Tasks whose session id starts with this.
    session: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(api): State<Api>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(TaskState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state {s:?} is unknown: use receiving, queued, converting, uploading, done or failed"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let session = q.session.filter(|s| !s.is_empty());
    let query = Query_ { state, session, cursor: q.cursor, limit };
    let page = api.pipeline.queue.list(query).await?;
    Ok(Json(serde_json::json!({ "items": page.items, "next": page.next })))
}

async fn find(api: &Api, id: &str) -> Result<Task, ApiError> {
    if !is_safe_id(id) {
        return Err(ApiError::bad_request("malformed task id"));
    }
    api.pipeline.queue.get(id).await?.ok_or_else(|| ApiError::not_found(format!("no task {id}")))
}

pub async fn get(State(api): State<Api>, Path(id): Path<String>) -> Result<Json<Task>, ApiError> {
    Ok(Json(find(&api, &id).await?))
}

pub async fn log(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let task = find(&api, &id).await?;
    let path = api.pipeline.task_dir(&task.id).log_path();
    // A cluster keeps a finished task's log where every node reads it; a
    // node's own copy is shorter when another node converted the task.
    let archived =
        if task.state.is_finished() { api.pipeline.queue.archived_log(&task.id).await? } else { None };
    let text = match archived {
        Some(text) => text,
        None => tokio::fs::read_to_string(&path).await.unwrap_or_default(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The MP4, with `Range` support for players that seek.
pub async fn output(
    State(api): State<Api>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = find(&api, &id).await?;
    let out = done_outputs(&task)?
        .first()
        .ok_or_else(|| ApiError::not_found(format!("task {id} has no output")))?;
    serve(&api, &task, (&out.name, &out.key, out.size), request).await
}

/// One file of a finished task by name: a video or a sidecar beside it
/// (the keystroke track, the thumbnails), with ranges.
pub async fn file(
    State(api): State<Api>,
    Path((id, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = find(&api, &id).await?;
    let mut files = done_outputs(&task)?.iter().flat_map(crate::pipeline::model::Output::files);
    let Some(found) = files.find(|(n, ..)| *n == name) else {
        return Err(ApiError::not_found(format!("task {id} has no file {name:?}")));
    };
    serve(&api, &task, found, request).await
}

fn done_outputs(task: &Task) -> Result<&[crate::pipeline::model::Output], ApiError> {
    if task.state != TaskState::Done {
        let why = format!("task {} is {}", task.id, task.state.as_str());
        return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", why));
    }
    Ok(&task.outputs)
}

/// Serves one stored file of `task`: (name, storage key, size).
async fn serve(
    api: &Api,
    task: &Task,
    (name, key, size): (&str, &str, u64),
    request: Request,
) -> Result<Response, ApiError> {
    let mime = mime_of(name);
    // The task's own copy, else the stored object when it is on this
    // machine (a sealing worker keeps no copy once the file is stored).
    let copy = api.pipeline.task_dir(&task.id).output_file(name);
    let storage = api.pipeline.destinations.storage_for(task).ok();
    let stored = || storage.as_ref()?.local_path(key);
    if let Some(path) = Some(copy).filter(|p| p.is_file()).or_else(|| stored().filter(|p| p.is_file())) {
        let served = ServeFile::new_with_mime(&path, &mime).oneshot(request).await;
        return match served {
            Ok(r) => Ok(r.map(Body::new)),
            Err(e) => Err(ApiError::internal(e.to_string())),
        };
    }
    // No copy on this machine (sealing keeps none; another node converted
    // it): stream it from the storage.
    if let Some(storage) = storage {
        let range = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(parse_range);
        match storage.read(key, range.map(|r| r.resolve(size))).await {
            Ok(Some(fetched)) => return Ok(from_storage(fetched, range.map(|r| r.resolve(size)), &mime)),
            Ok(None) => {}
            Err(e) => {
                return Err(ApiError::new(StatusCode::BAD_GATEWAY, "storage_unavailable", e.to_string()));
            }
        }
    }
    Err(ApiError::not_found(format!(
        "{name} of task {} is neither here nor readable from its storage",
        task.id
    )))
}

/// One `bytes=` range: `first-last`, `first-`, or `-suffix`.
#[derive(Clone, Copy)]
enum ByteRange {
    From(u64, Option<u64>),
    Suffix(u64),
}

impl ByteRange {
    /// (first, last) inclusive within an object of `size` bytes.
    fn resolve(self, size: u64) -> (u64, u64) {
        let end = size.saturating_sub(1);
        match self {
            ByteRange::From(first, last) => (first.min(end), last.unwrap_or(end).min(end)),
            ByteRange::Suffix(n) => (size.saturating_sub(n), end),
        }
    }
}

fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    // Several ranges at once are answered whole (players ask for one).
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", n) => Some(ByteRange::Suffix(n.parse().ok()?)),
        (f, "") => Some(ByteRange::From(f.parse().ok()?, None)),
        (f, l) => {
            let (f, l): (u64, u64) = (f.parse().ok()?, l.parse().ok()?);
            (f <= l).then_some(ByteRange::From(f, Some(l)))
        }
    }
}

fn from_storage(
    fetched: crate::pipeline::ports::Fetched,
    range: Option<(u64, u64)>,
    mime: &mime::Mime,
) -> Response {
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, mime.as_ref())
        .header(header::ACCEPT_RANGES, "bytes");
    builder = match range {
        Some((first, last)) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{}", fetched.size))
            .header(header::CONTENT_LENGTH, last - first + 1),
        None => builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, fetched.size),
    };
    builder
        .body(Body::from_stream(fetched.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// What a stored file is, by the names this service gives them.
fn mime_of(name: &str) -> mime::Mime {
    let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("mp4") => "video/mp4",
        Some("vtt") => "text/vtt; charset=utf-8",
        Some("jpg") => "image/jpeg",
        Some("json") => "application/json",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    };
    kind.parse().expect("a valid mime type")
}

pub async fn retry(State(api): State<Api>, Path(id): Path<String>) -> Result<Json<Task>, ApiError> {
    let task = find(&api, &id).await?;
    if !api.pipeline.queue.requeue_failed(&task.id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!("task {id} is {}; only failed tasks can be retried", task.state.as_str()),
        ));
    }
    api.pipeline.task_dir(&task.id).log().line("queued again by an API request");
    Ok(Json(find(&api, &id).await?))
}

//! The task resource: list, get, log, output (with HTTP ranges), retry.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::error::ApiError;
use crate::service::app::App;
use crate::tasks::model::{State as TaskState, Task, is_safe_id};

/// Tasks per page unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(app): State<Arc<App>>,
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
    let (items, next) = app.store.list(state, q.cursor.as_deref(), limit)?;
    Ok(Json(serde_json::json!({ "items": items, "next": next })))
}

fn find(app: &App, id: &str) -> Result<Task, ApiError> {
    if !is_safe_id(id) {
        return Err(ApiError::bad_request("malformed task id"));
    }
    app.store.get(id)?.ok_or_else(|| ApiError::not_found(format!("no task {id}")))
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Task>, ApiError> {
    Ok(Json(find(&app, &id)?))
}

pub async fn log(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let task = find(&app, &id)?;
    let path = app.task_dir(&task.id).join("task.log");
    let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The MP4, with `Range` support for players that seek.
pub async fn output(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = find(&app, &id)?;
    let out = match task.outputs.first() {
        Some(out) if task.state == TaskState::Done => out,
        _ => {
            let why = format!("task {id} is {}", task.state.as_str());
            return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", why));
        }
    };
    let path = app.task_dir(&task.id).join("output").join(&out.name);
    if !path.is_file() {
        return Err(ApiError::not_found(format!("the output of task {id} was removed by cleanup")));
    }
    let served = ServeFile::new_with_mime(&path, &mime_mp4()).oneshot(request).await;
    match served {
        Ok(r) => Ok(r.map(Body::new)),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

fn mime_mp4() -> mime::Mime {
    "video/mp4".parse().expect("a valid mime type")
}

pub async fn retry(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Task>, ApiError> {
    let task = find(&app, &id)?;
    if !app.store.requeue_failed(&task.id)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!("task {id} is {}; only failed tasks can be retried", task.state.as_str()),
        ));
    }
    crate::tasks::tasklog::TaskLog::new(&app.task_dir(&task.id)).line("queued again by an API request");
    app.wake.notify_one();
    Ok(Json(find(&app, &id)?))
}

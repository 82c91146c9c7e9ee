//! `POST /api/v1/recordings`: the standalone ingest. Accepts a multipart
//! form (fields `session_id`, `metadata` (JSON), then one or more `file`
//! fields: the parts in order) or a raw body (query `session_id`,
//! `metadata`; `Content-Type: application/vnd.video-worker.sealed` for a body
//! sealed with the shared key). Streams to disk with constant memory and
//! answers 202 with the task once the recording is safely on disk.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;

use super::Api;
use super::error::ApiError;
use crate::pipeline::intake::{Intake, NewTask};
use crate::pipeline::model::Origin;
use crate::pipeline::spool::Body;

#[derive(Deserialize, Default)]
pub struct UploadQuery {
    session_id: Option<String>,
    metadata: Option<String>,
}

/// The content type of a raw body sealed with the shared key (docs/security.md).
pub const SEALED_TYPE: &str = "application/vnd.video-worker.sealed";

/// Longest accepted `metadata` JSON text.
const MAX_METADATA: usize = 64 * 1024;

pub async fn upload(
    State(api): State<Api>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let pipeline = &api.pipeline;
    check_declared_length(pipeline.settings.max_upload_bytes, &request)?;
    let _slot = api.admission.admit(&*pipeline.queue).await?;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let is_sealed = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(SEALED_TYPE));
    let metadata = parse_metadata(query.metadata.as_deref())?;
    let new = NewTask { session_id: query.session_id, metadata, origin: Origin::Api, session_date: None };
    let mut intake = Intake::begin(pipeline, new).await?;
    if is_multipart {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request(format!("not a valid multipart body: {e}")))?;
        read_multipart(&mut intake, multipart).await?;
    } else {
        let kind = if is_sealed { Body::Sealed } else { Body::Plain };
        let body = request.into_body().into_data_stream();
        intake.write_part_as(body, kind).await?;
    }
    let id = intake.commit().await?;
    let task = pipeline.queue.get(&id).await?.ok_or_else(|| ApiError::internal("the task vanished"))?;
    tracing::info!(task = %id, session = %task.session_id, bytes = task.input_bytes, parts = task.input_parts, "recording accepted");
    Ok((StatusCode::ACCEPTED, Json(serde_json::to_value(&task).unwrap_or_default())))
}

/// Refuses at once a body that says it is too large.
fn check_declared_length(max: u64, request: &Request) -> Result<(), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max => Err(crate::pipeline::intake::IntakeError::TooLarge { limit: max }.into()),
        _ => Ok(()),
    }
}

fn parse_metadata(text: Option<&str>) -> Result<serde_json::Value, ApiError> {
    match text {
        None => Ok(serde_json::json!({})),
        Some(t) if t.len() > MAX_METADATA => Err(ApiError::bad_request("metadata is larger than 64 KiB")),
        Some(t) => {
            serde_json::from_str(t).map_err(|e| ApiError::bad_request(format!("metadata is not JSON: {e}")))
        }
    }
}

async fn read_multipart(intake: &mut Intake, mut multipart: Multipart) -> Result<(), ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "upload_interrupted",
            format!("the multipart body is broken: {e}"),
        )
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "session_id" => {
                let sid = field.text().await.map_err(bad)?;
                intake.set_session_id(sid.trim().to_string())?;
            }
            "metadata" => {
                let text = field.text().await.map_err(bad)?;
                let value = parse_metadata(Some(&text))?;
                intake.set_metadata(value);
            }
            "file" => {
                if let Some(name) = field.file_name() {
                    check_file_name(name)?;
                }
                intake.write_part(field).await?;
            }
            _ => {} // unknown fields are ignored, not stored
        }
    }
    Ok(())
}

/// Client file names are never used as paths; suspicious ones are refused.
pub fn check_file_name(name: &str) -> Result<(), ApiError> {
    let bad = name.contains("..")
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.len() > 255;
    if bad {
        return Err(ApiError::bad_request(
            "file name refused: it must not contain '..', '/', '\\' or NUL, nor exceed 255 bytes",
        ));
    }
    Ok(())
}

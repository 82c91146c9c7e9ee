//! `GET /api/v1/overview`: the queue at a glance, for the console and for
//! anyone with the token: tasks by state, workers busy, what finished in
//! the last hour, the oldest task waiting, and health as the probe says it.

use axum::Json;
use axum::extract::State;

use super::error::ApiError;
use super::health::{HealthState, report};
use crate::pipeline::model::now_ms;
use crate::pipeline::model::{State as TaskState, Task};
use crate::pipeline::queue::{ListQuery, Queue};

/// Most tasks looked at for each figure: the pending ones are capped by
/// MAX_PENDING_TASKS; finished ones only matter within the hour.
const SCAN_LIMIT: usize = 5000;
const PAGE: usize = 500;
const HOUR_MS: i64 = 3_600_000;

pub async fn overview(State(s): State<HealthState>) -> Result<Json<serde_json::Value>, ApiError> {
    let queue = &*s.pipeline.queue;
    let counts = queue.counts().await?;
    let by_state: serde_json::Map<String, serde_json::Value> = TaskState::ALL
        .iter()
        .map(|st| (st.as_str().to_string(), crate::pipeline::queue::count_of(&counts, *st).into()))
        .collect();
    let queued = scan(queue, TaskState::Queued, |_| true).await?;
    let oldest = queued.iter().min_by_key(|t| t.created_at);
    let hour_ago = now_ms() - HOUR_MS;
    let recent = |t: &Task| t.finished_at.is_some_and(|f| f >= hour_ago);
    let done = scan(queue, TaskState::Done, recent).await?.len();
    let failed = scan(queue, TaskState::Failed, recent).await?.len();
    let (_, health) = report(&s).await;
    let p = &s.pipeline;
    Ok(Json(serde_json::json!({
        "counts": by_state,
        "workers": p.settings.workers,
        "busy_workers": p.status.busy_workers(),
        "oldest_queued": oldest.map(|t| serde_json::json!({
            "id": t.id, "session_id": t.session_id, "created_at": t.created_at,
        })),
        "done_last_hour": done,
        "failed_last_hour": failed,
        "health": health,
    })))
}

/// Tasks in `state` that `keep` accepts, newest first, up to [`SCAN_LIMIT`].
async fn scan(
    queue: &dyn Queue,
    state: TaskState,
    keep: impl Fn(&Task) -> bool,
) -> Result<Vec<Task>, ApiError> {
    let mut found = Vec::new();
    let mut cursor = None;
    for _ in 0..SCAN_LIMIT / PAGE {
        let page = queue.list(ListQuery { state: Some(state), session: None, cursor, limit: PAGE }).await?;
        found.extend(page.items.into_iter().filter(&keep));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(found)
}

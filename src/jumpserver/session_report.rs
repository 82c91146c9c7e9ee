//! What the worker tells core about a gateway's session, since the gateway
//! handed the recording over and reports nothing itself: lifecycle events
//! (`replay_convert_*`, `replay_upload_*`), then `has_replay` with the
//! stored size, and `error_reason` when the recording could not be
//! converted. Events are a courtesy (a failure is logged); `has_replay` is
//! not: without it core hides the replay, so its failure retries the task.

use std::sync::Arc;

use super::core_client::{CoreClient, CoreError};
use crate::service::app::App;
use crate::tasks::model::{Source, Task};

pub struct SessionReport {
    core: Arc<CoreClient>,
    session: String,
    task: String,
}

impl SessionReport {
    /// The reporter for a gateway task (`Ok(None)` for standalone tasks);
    /// a gateway task without a core client cannot finish (it must report).
    pub fn of(app: &App, task: &Task) -> Result<Option<SessionReport>, String> {
        if task.source != Source::Gateway {
            return Ok(None);
        }
        let core = app.core.client.get().ok_or("a gateway task needs CORE_HOST to report to core")?.clone();
        Ok(Some(SessionReport { core, session: task.session_id.clone(), task: task.id.clone() }))
    }

    /// Posts a lifecycle event; a failure is only logged.
    pub async fn event(&self, event: &str, reason: &str) {
        if let Err(e) = self.core.lifecycle(&self.session, event, reason).await {
            tracing::warn!(task = %self.task, session = %self.session, event, error = %e, "cannot post the lifecycle event");
        }
    }

    /// The replay is stored: `has_replay` and its size in bytes.
    pub async fn replay_stored(&self, size: u64) -> Result<(), CoreError> {
        self.core.mark_replay(&self.session, size).await
    }

    /// The recording could not be converted (its original was stored).
    pub async fn convert_failed(&self) -> Result<(), CoreError> {
        self.core.mark_replay_error(&self.session, "replay_convert_failed").await
    }
}

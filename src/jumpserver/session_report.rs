//! What the worker tells core about a gateway's session, since the gateway
//! handed the recording over and reports nothing itself: lifecycle events
//! (`replay_convert_*`, `replay_upload_*`), then `has_replay` with the
//! stored size, and `error_reason` when the recording could not be
//! converted. Events are a courtesy: one that core cannot take now is tried
//! again a few times, one core refuses is written to the task log, and
//! neither fails the task. `has_replay` is not a courtesy: without it core
//! hides the replay, so its failure retries the task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::core_client::{CoreClient, CoreError};
pub use crate::pipeline::ports::Event;
use crate::pipeline::ports::{ReportError, SessionReporter};
use crate::pipeline::tasklog::TaskLog;

/// Pauses before the second and third try of an event core could not take.
/// Short: the task waits for its events, and they are only a courtesy.
const EVENT_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// How posting one event ended.
#[derive(Debug)]
pub enum Posted {
    /// Core took it (any 2xx; core answers 200).
    Accepted,
    /// Core refused it for good (4xx): not tried again.
    Refused(CoreError),
    /// Core could not take it, every try (5xx, network).
    GaveUp(CoreError),
}

pub struct SessionReport {
    core: Arc<CoreClient>,
    session: String,
    task: String,
    log: TaskLog,
}

impl SessionReport {
    /// The reporter of one task's session; refused events go to `log`.
    pub fn new(core: Arc<CoreClient>, session: &str, task: &str, log: TaskLog) -> SessionReport {
        SessionReport { core, session: session.to_string(), task: task.to_string(), log }
    }
}

/// A session update core did not take. Always retried: the replay is
/// stored, and core hides it until it knows; a 401 only means the worker is
/// registering again.
fn report_error(e: CoreError) -> ReportError {
    ReportError { transient: true, message: e.to_string() }
}

impl SessionReporter for SessionReport {
    fn event<'a>(&'a self, event: Event, reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            post_event(&self.core, &self.session, &self.task, event, reason, &self.log).await;
        })
    }

    fn replay_stored(&self, size: u64) -> BoxFuture<'_, Result<(), ReportError>> {
        Box::pin(async move { self.core.mark_replay(&self.session, size).await.map_err(report_error) })
    }

    fn convert_failed(&self) -> BoxFuture<'_, Result<(), ReportError>> {
        Box::pin(async move {
            self.core.mark_replay_error(&self.session, "replay_convert_failed").await.map_err(report_error)
        })
    }
}

/// Posts one lifecycle event of `task`'s session. A transient failure (core
/// out of reach, 5xx) is tried again after each of `EVENT_RETRY_DELAYS`; a
/// refusal (4xx) is final, since the same request gets the same answer.
/// Either way the outcome is written once to the task log, with core's
/// answer, so an admin can tell why the session's activity log lacks it.
pub async fn post_event(
    core: &CoreClient,
    session: &str,
    task: &str,
    event: Event,
    reason: &str,
    log: &TaskLog,
) -> Posted {
    let name = event.name();
    let mut delays = EVENT_RETRY_DELAYS.iter();
    loop {
        let e = match core.lifecycle(session, name, reason).await {
            Ok(()) => return Posted::Accepted,
            Err(e) => e,
        };
        if !e.is_transient() {
            tracing::warn!(task, session, event = name, error = %e, "core refused the lifecycle event; not retried");
            log.line(format!("core refused the lifecycle event {name} (not retried): {e}"));
            return Posted::Refused(e);
        }
        let Some(delay) = delays.next() else {
            let tries = EVENT_RETRY_DELAYS.len() + 1;
            tracing::warn!(task, session, event = name, error = %e, tries, "cannot post the lifecycle event");
            log.line(format!("cannot post the lifecycle event {name} ({tries} tries): {e}"));
            return Posted::GaveUp(e);
        };
        tracing::info!(task, session, event = name, error = %e, retry_in_s = delay.as_secs(), "core cannot take the lifecycle event now");
        tokio::time::sleep(*delay).await;
    }
}

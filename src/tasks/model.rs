//! A task: one recording (one or more parts) from arrival to a stored MP4.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The upload is still arriving.
    Receiving,
    /// Waiting for a worker (possibly until a retry is due).
    Queued,
    Converting,
    Uploading,
    Done,
    /// Failed for good: the input is not a usable recording.
    Failed,
}

impl State {
    pub const ALL: [State; 6] =
        [State::Receiving, State::Queued, State::Converting, State::Uploading, State::Done, State::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Receiving => "receiving",
            State::Queued => "queued",
            State::Converting => "converting",
            State::Uploading => "uploading",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, State::Done | State::Failed)
    }
}

/// Where a task came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Api,
    Inbox,
    /// A JumpServer gateway (Lion): stored where core says, reported to core.
    Gateway,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Inbox => "inbox",
            Source::Gateway => "gateway",
        }
    }

    pub fn parse(s: &str) -> Source {
        match s {
            "inbox" => Source::Inbox,
            "gateway" => Source::Gateway,
            _ => Source::Api,
        }
    }
}

/// One stored output file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub name: String,
    /// Object key in the storage (`YYYY-MM-DD/<session>/<name>`).
    pub key: String,
    pub size: u64,
    pub duration_ms: i64,
    pub width: u32,
    pub height: u32,
    /// Lowercase hex SHA-256 of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub session_id: String,
    pub state: State,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// When a queued task may run next (retries wait here).
    pub next_attempt_at: i64,
    /// Fraction of the session converted, 0 to 1.
    pub progress: f64,
    pub input_parts: u32,
    pub input_bytes: u64,
    pub outputs: Vec<Output>,
    pub metadata: serde_json::Value,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
    /// `YYYY-MM-DD` of the session, for storage keys.
    pub session_date: String,
}

impl Task {
    /// A new task in state `receiving`: nothing arrived yet.
    pub fn receiving(id: &str, session_id: &str, metadata: serde_json::Value, source: Source) -> Task {
        let now = now_ms();
        Task {
            id: id.to_string(),
            session_id: session_id.to_string(),
            state: State::Receiving,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            next_attempt_at: 0,
            progress: 0.0,
            input_parts: 0,
            input_bytes: 0,
            outputs: vec![],
            metadata,
            source,
            source_path: None,
            session_date: String::new(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new task id: time-ordered (hex milliseconds) plus randomness, safe in
/// paths and URLs.
pub fn new_task_id() -> String {
    format!("{:011x}{:08x}", now_ms(), rand::random::<u32>())
}

pub use crate::ids::is_safe_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_safe() {
        let a = new_task_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_task_id();
        assert!(a < b);
        assert!(is_safe_id(&a));
    }

    #[test]
    fn states_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}

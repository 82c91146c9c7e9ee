//! A task: one recording (one or more parts) from arrival to a stored MP4.

use serde::{Deserialize, Serialize};

use super::gateway_job::GatewayJob;

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

/// Where a task came from: one typed value, read one way everywhere (what
/// it makes, where it is stored, whom it is reported to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Origin {
    /// The standalone upload API.
    Api,
    /// A file dropped into the inbox; moved aside when the task ends.
    Inbox {
        #[serde(rename = "source_path")]
        path: String,
    },
    /// A JumpServer gateway (Lion): stored where core says, reported to core.
    Gateway {
        #[serde(rename = "gateway")]
        job: GatewayJob,
    },
}

impl Origin {
    /// The name stored in the `source` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Inbox { .. } => "inbox",
            Origin::Gateway { .. } => "gateway",
        }
    }

    pub fn gateway_job(&self) -> Option<&GatewayJob> {
        match self {
            Origin::Gateway { job } => Some(job),
            _ => None,
        }
    }

    pub fn is_gateway(&self) -> bool {
        matches!(self, Origin::Gateway { .. })
    }

    pub fn inbox_path(&self) -> Option<&str> {
        match self {
            Origin::Inbox { path } => Some(path),
            _ => None,
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
    /// Files stored beside it: the keystroke track, the thumbnails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<SidecarFile>,
}

impl Output {
    /// (name, storage key, size) of the file, then of its sidecars.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        std::iter::once((self.name.as_str(), self.key.as_str(), self.size))
            .chain(self.sidecars.iter().map(|s| (s.name.as_str(), s.key.as_str(), s.size)))
    }
}

/// A file made beside a video (see `convert::SidecarKind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarFile {
    /// `keystrokes`, `thumbnails` or `sprite`.
    pub kind: String,
    pub name: String,
    /// Object key in the storage, beside the video's.
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The client's own fields (standalone uploads), kept as given.
    pub metadata: serde_json::Value,
    #[serde(flatten)]
    pub origin: Origin,
    /// `YYYY-MM-DD` of the session, for storage keys.
    pub session_date: String,
    /// The `NAME` of the worker that took the task last.
    #[serde(default)]
    pub worker: Option<String>,
    /// (index, bytes) of the parts of a gateway task that arrived so far, on
    /// whichever node of a cluster they arrived (a single node counts the
    /// files in the task directory instead and leaves this empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts_arrived: Vec<(u32, u64)>,
}

impl Task {
    /// A new task in state `receiving`: nothing arrived yet.
    pub fn receiving(id: &str, session_id: &str, origin: Origin, session_date: String) -> Task {
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
            metadata: serde_json::json!({}),
            origin,
            session_date,
            worker: None,
            parts_arrived: vec![],
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

/// Today's date (UTC), the storage date of a recording that gives none.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
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

    #[test]
    fn the_origin_shows_as_source_fields_and_round_trips() {
        let inbox = Task::receiving("t1", "s1", Origin::Inbox { path: "/in/a.guac".into() }, today());
        let v = serde_json::to_value(&inbox).unwrap();
        assert_eq!(v["source"], "inbox");
        assert_eq!(v["source_path"], "/in/a.guac");
        assert_eq!(serde_json::from_value::<Task>(v).unwrap(), inbox);
        let job = GatewayJob::Legacy { fields: Default::default() };
        let gw = Task::receiving("t2", "s2", Origin::Gateway { job }, today());
        let v = serde_json::to_value(&gw).unwrap();
        assert_eq!(
            (v["source"].as_str(), v["gateway"]["protocol"].as_str()),
            (Some("gateway"), Some("legacy"))
        );
        assert_eq!(serde_json::from_value::<Task>(v).unwrap(), gw);
    }
}

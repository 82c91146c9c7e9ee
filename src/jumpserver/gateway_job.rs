//! What a gateway task carries besides its recording, kept in the task's
//! `metadata` under `"jumpserver"` so it survives restarts with the task.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::replay_meta::{PartFile, TaskConfig, parse_files};
use crate::tasks::model::Task;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum GatewayJob {
    /// The current protocol: parts announced in `meta.files[]`, uploaded one
    /// by one; one MP4 per part plus a rewritten `<sid>.replay.json`.
    Parts { config: TaskConfig, meta: Value },
    /// The legacy protocol: one recording in one form; one `<sid>.replay.mp4`.
    Legacy { fields: BTreeMap<String, String> },
}

impl GatewayJob {
    pub fn of(task: &Task) -> Option<GatewayJob> {
        serde_json::from_value(task.metadata.get("jumpserver")?.clone()).ok()
    }

    pub fn to_metadata(&self) -> Value {
        serde_json::json!({ "jumpserver": self })
    }

    /// The parts a `Parts` job announced (empty for legacy).
    pub fn files(&self) -> Vec<PartFile> {
        match self {
            // Whatever was accepted at creation, without a new limit.
            GatewayJob::Parts { meta, .. } => parse_files(meta, usize::MAX).unwrap_or_default(),
            GatewayJob::Legacy { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_task_metadata() {
        let meta = serde_json::json!({"id": "s1", "files": [{"name": "s1.0.part.gz"}]});
        let job = GatewayJob::Parts { config: TaskConfig::default(), meta };
        let v = job.to_metadata();
        assert_eq!(v["jumpserver"]["protocol"], "parts");
        let back: GatewayJob = serde_json::from_value(v["jumpserver"].clone()).unwrap();
        assert_eq!(back, job);
        assert_eq!(back.files()[0].name, "s1.0.part.gz");
        let legacy = GatewayJob::Legacy { fields: [("file_type".to_string(), ".gz".to_string())].into() };
        assert_eq!(legacy.to_metadata()["jumpserver"]["protocol"], "legacy");
    }
}

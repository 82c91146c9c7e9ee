//! The pipeline's ports for a worker beside JumpServer: a gateway task's
//! files go to the replay storage core assigned (core itself for `server`,
//! and for kinds without a backend here), and its session is reported to
//! core; every other task goes to the local storage and is reported to
//! nobody.

use std::sync::Arc;

use super::core_storage::CoreStorage;
use super::link::CoreLink;
use super::replay_storage::ReplayStorage;
use super::session_report::SessionReport;
use crate::pipeline::model::Task;
use crate::pipeline::ports::{Destinations, PortError, Reporting, SessionReporter, Storage};
use crate::pipeline::task_dir::TaskDir;
use crate::storage::ObjectStorage;

pub struct JumpServerPorts {
    pub link: Arc<CoreLink>,
    /// Where standalone tasks go.
    pub local: Arc<dyn Storage>,
    /// The client object stores speak through.
    pub http: reqwest::Client,
    /// `DATA_DIR/tasks`: a session's reporter writes to its task's log.
    pub tasks_dir: std::path::PathBuf,
}

impl Destinations for JumpServerPorts {
    fn storage_for(&self, task: &Task) -> Result<Arc<dyn Storage>, PortError> {
        if !task.origin.is_gateway() {
            return Ok(self.local.clone());
        }
        let replay = self
            .link
            .storage()
            .ok_or_else(|| PortError("the replay storage has not been read from core yet".into()))?;
        match replay {
            ReplayStorage::Server | ReplayStorage::Fallback { .. } => {
                Ok(Arc::new(CoreStorage::new(self.link.client.clone())))
            }
            ReplayStorage::Object(store) => match ObjectStorage::new(&store, &self.http) {
                Ok(object) => Ok(Arc::new(object)),
                Err(e) => Err(PortError(format!("the replay storage core assigned cannot be used: {e}"))),
            },
        }
    }
}

impl Reporting for JumpServerPorts {
    fn reporter_for(&self, task: &Task) -> Result<Option<Arc<dyn SessionReporter>>, PortError> {
        if !task.origin.is_gateway() {
            return Ok(None);
        }
        let log = TaskDir::new(&self.tasks_dir, &task.id).log();
        Ok(Some(Arc::new(SessionReport::new(self.link.client.clone(), &task.session_id, &task.id, log))))
    }
}

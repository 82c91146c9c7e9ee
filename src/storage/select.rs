//! Which storage a task's files go to: standalone tasks to the local
//! directory; gateway tasks to the replay storage core assigned to this
//! worker (core itself for `server`, and for kinds without a backend here).

use std::sync::Arc;

use super::Storage;
use super::core::CoreStorage;
use super::object::ObjectStorage;
use crate::service::app::App;
use crate::tasks::model::{Source, Task};

/// The storage for `task`, or why it cannot be used yet (a transient state:
/// core not reached, or settings the admin must fix in core).
pub fn for_task(app: &App, task: &Task) -> Result<Arc<dyn Storage>, String> {
    if task.source != Source::Gateway {
        return Ok(app.storage.clone());
    }
    let core = app.core.client.get().ok_or("CORE_HOST is not set; a gateway task needs core")?;
    let replay = app.core.storage().ok_or("the replay storage has not been read from core yet")?;
    match ObjectStorage::for_replay(&replay) {
        None => Ok(Arc::new(CoreStorage::new(core.clone()))),
        Some(Ok(object)) => Ok(Arc::new(object)),
        Some(Err(e)) => Err(format!("the replay storage core assigned cannot be used: {e}")),
    }
}

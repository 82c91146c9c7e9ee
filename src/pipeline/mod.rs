//! The task pipeline: taking recordings in, queueing them, converting them
//! with the core, storing the results and reporting them. It knows nothing
//! of HTTP, of storage kinds or of JumpServer: what it needs from them comes
//! through the small traits in [`ports`] and the queue seam in [`queue`].
//!
//! `model` and `gateway_job` are plain data, built without the `service`
//! feature (the fuzz targets parse gateway input into them).

pub mod gateway_job;
pub mod model;

#[cfg(feature = "service")]
pub mod cleanup;
#[cfg(feature = "service")]
pub mod error_code;
#[cfg(feature = "service")]
pub mod inbox;
#[cfg(feature = "service")]
pub mod intake;
#[cfg(feature = "service")]
pub mod parts;
#[cfg(feature = "service")]
pub mod plan;
#[cfg(feature = "service")]
pub mod pool;
#[cfg(feature = "service")]
pub mod ports;
#[cfg(feature = "service")]
pub mod postprocess;
#[cfg(feature = "service")]
pub mod process;
#[cfg(feature = "service")]
pub mod queue;
#[cfg(feature = "service")]
pub mod retry;
#[cfg(feature = "service")]
pub mod role;
#[cfg(feature = "service")]
pub mod sealed_metadata;
#[cfg(feature = "service")]
mod shared;
#[cfg(feature = "service")]
pub mod spool;
#[cfg(feature = "service")]
pub mod task_dir;
#[cfg(feature = "service")]
pub mod tasklog;
#[cfg(all(test, feature = "service"))]
mod testing;

#[cfg(feature = "service")]
pub use shared::{Pipeline, Settings, Status};

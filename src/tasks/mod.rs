//! Tasks: the model, the durable store, taking recordings in, the worker
//! pool, running a task, retries, post-processing, the inbox and cleanup.

pub mod cleanup;
pub mod inbox;
pub mod intake;
pub mod model;
pub mod parts;
pub mod plan;
pub mod pool;
pub mod postprocess;
pub mod process;
pub mod retry;
pub mod sealed_metadata;
pub mod spool;
pub mod store;
pub mod tasklog;

//! The adapters of the pipeline's queue seam (`pipeline::queue`): each
//! implements its four roles (task store, work queue, gateway parts,
//! health). The pipeline never names them; `service` picks one.
//!
//! - [`sqlite`]: one node, one SQLite file under `DATA_DIR`.
//! - [`nats`]: a cluster on NATS JetStream (`NATS_URL`): records in a KV
//!   bucket, a job per task on a work-queue stream, staged recordings, and
//!   a local SQLite outbox.

pub mod nats;
pub mod sqlite;

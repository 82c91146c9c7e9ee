//! JumpServer integration: registration and heartbeats with core, the
//! gateway (Lion) protocols, the replay storage core assigns, and what the
//! worker reports back to core about each session.

pub mod connect;
pub mod core_client;
pub mod gateway_auth;
pub mod gateway_job;
pub mod heartbeat;
pub mod host_stats;
pub mod insecure_tls;
pub mod keyfile;
pub mod legacy_session;
pub mod replay_meta;
pub mod replay_storage;
pub mod session_report;
pub mod signer;

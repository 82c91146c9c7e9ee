//! JumpServer integration: registration and heartbeats with core, the
//! gateway (Lion) protocols, the replay storage core assigns, and what the
//! worker reports back to core about each session. Only `replay_meta`
//! (parsing what gateways send) is built without the `service` feature,
//! for the fuzz targets.

#[cfg(feature = "service")]
pub mod connect;
#[cfg(feature = "service")]
pub mod core_client;
#[cfg(feature = "service")]
pub mod gateway_auth;
#[cfg(feature = "service")]
pub mod gateway_job;
#[cfg(feature = "service")]
pub mod heartbeat;
#[cfg(feature = "service")]
pub mod host_stats;
#[cfg(feature = "service")]
pub mod insecure_tls;
#[cfg(feature = "service")]
pub mod keyfile;
#[cfg(feature = "service")]
pub mod legacy_session;
pub mod replay_meta;
#[cfg(feature = "service")]
pub mod replay_storage;
#[cfg(feature = "service")]
pub mod session_report;
#[cfg(feature = "service")]
pub mod signer;

//! JumpServer integration: registration and heartbeats with core, the
//! gateways' authentication and legacy sessions, the replay storage core
//! assigns, what the worker reports back to core about each session, and
//! the pipeline's ports for gateway tasks. Only `replay_meta` (parsing what
//! gateways send) is built without the `service` feature, for the fuzz
//! targets.

#[cfg(feature = "service")]
pub mod connect;
#[cfg(feature = "service")]
pub mod core_client;
#[cfg(feature = "service")]
pub mod core_storage;
#[cfg(feature = "service")]
pub mod gateway_auth;
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
#[cfg(feature = "service")]
pub mod link;
#[cfg(feature = "service")]
pub mod ports;
pub mod replay_meta;
#[cfg(feature = "service")]
pub mod replay_storage;
#[cfg(feature = "service")]
pub mod session_report;
#[cfg(feature = "service")]
pub mod signature_header;
#[cfg(feature = "service")]
pub mod signer;

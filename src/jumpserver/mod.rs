//! JumpServer integration, in progress: the pieces that are pure and fully
//! specified by the public record come first (request signing, the replay
//! storage settings). The core client, gateway API and storage backends
//! build on them.

pub mod connect;
pub mod core_client;
pub mod gateway_auth;
pub mod heartbeat;
pub mod host_stats;
pub mod insecure_tls;
pub mod keyfile;
pub mod replay_storage;
pub mod signer;

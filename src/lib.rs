//! video-worker: turns Apache Guacamole session recordings into small,
//! seekable H.264 MP4 files.
//!
//! The transcoding core lives in three layers that know nothing of HTTP or
//! task queues: [`guac`] reads recordings, [`render`] draws them the way the
//! reference browser player does, and [`encode`] turns the changed pictures
//! into video through an `ffmpeg` subprocess. [`convert`] and [`snapshot`]
//! tie them together for the CLI, the service and the benchmarks. [`seal`]
//! opens recordings sealed at rest with `VIDEO_WORKER_SECRET_KEY`.
//!
//! The service around it, in one direction of dependencies: the task
//! [`pipeline`] (queue, intake, worker pool, processing) uses only the core;
//! [`storage`] backends, the [`queues`] (the queue seam's adapters: SQLite for one node,
//! NATS JetStream for a cluster) and the [`jumpserver`] integration plug into the
//! pipeline's ports; the [`http`] API sits on those; [`service`] is the one
//! place that assembles everything from the [`config`]; `cli` (the binary)
//! calls it. See `docs/architecture.md`.

#[cfg(feature = "service")]
pub mod config;
pub mod convert;
pub mod encode;
pub mod engine;
pub mod guac;
#[cfg(feature = "service")]
pub mod http;
pub mod ids;
pub mod jumpserver;
pub mod keys;
pub mod pipeline;
pub mod playback;
#[cfg(feature = "service")]
pub mod queues;
pub mod render;
pub mod seal;
pub mod secret;
#[cfg(feature = "service")]
pub mod service;
pub mod snapshot;
#[cfg(feature = "service")]
pub mod storage;
#[cfg(feature = "service")]
pub mod telemetry;
pub mod terminal;
pub mod thumbnails;

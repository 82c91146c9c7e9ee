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
//! The service around it: [`config`], the durable task pipeline in
//! [`tasks`], [`storage`] backends, the [`http`] API, and [`service`], which
//! assembles and runs them.

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
pub mod playback;
pub mod render;
pub mod seal;
#[cfg(feature = "service")]
pub mod service;
pub mod snapshot;
#[cfg(feature = "service")]
pub mod storage;
#[cfg(feature = "service")]
pub mod tasks;
#[cfg(feature = "service")]
pub mod telemetry;

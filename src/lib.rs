//! video-worker: turns Apache Guacamole session recordings into small,
//! seekable H.264 MP4 files.
//!
//! The transcoding core lives in three layers that know nothing of HTTP or
//! task queues: [`guac`] reads recordings, [`render`] draws them the way the
//! reference browser player does, and [`encode`] turns the changed pictures
//! into video through an `ffmpeg` subprocess. [`convert`] and [`snapshot`]
//! tie them together for the CLI, the service and the benchmarks.
//!
//! The service around it: [`config`], the durable task pipeline in
//! [`tasks`], [`storage`] backends, the [`http`] API, and [`service`], which
//! assembles and runs them.

pub mod config;
pub mod convert;
pub mod encode;
pub mod engine;
pub mod guac;
pub mod http;
pub mod playback;
pub mod render;
pub mod service;
pub mod snapshot;
pub mod storage;
pub mod tasks;
pub mod telemetry;

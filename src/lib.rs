//! video-worker: turns Apache Guacamole session recordings into small,
//! seekable H.264 MP4 files.
//!
//! The transcoding core lives in three layers that know nothing of HTTP or
//! task queues: [`guac`] reads recordings, [`render`] draws them the way the
//! reference browser player does, and [`encode`] turns the changed pictures
//! into video through an `ffmpeg` subprocess. [`convert`] and [`snapshot`]
//! tie them together for the CLI, the service and the benchmarks.

pub mod convert;
pub mod encode;
pub mod engine;
pub mod guac;
pub mod playback;
pub mod render;
pub mod snapshot;

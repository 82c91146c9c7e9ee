//! From pictures to video: which frames, the Matroska pipe, and ffmpeg.

pub mod ffmpeg;
pub mod mkv;
pub mod rusage;
pub mod settings;
pub mod subtitles;
pub mod timeline;
pub mod watchdog;
pub mod yuv;

pub use ffmpeg::EncodeError;
pub use settings::{EncodeSettings, Quality, output_size, parse_size};

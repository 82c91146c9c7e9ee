//! The keystroke track inside the MP4: the WebVTT sidecar muxed in as a
//! `mov_text` subtitle stream (what MP4 players, VLC and Safari show), the
//! video stream copied untouched.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use super::EncodeError;

/// Writes `out`: `video` with `vtt` as its subtitle track.
pub fn embed(ffmpeg: &Path, video: &Path, vtt: &Path, out: &Path) -> Result<(), EncodeError> {
    let spawn = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => EncodeError::Missing(ffmpeg.to_path_buf()),
        _ => EncodeError::Spawn { path: ffmpeg.to_path_buf(), source },
    };
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-y", "-i"])
        .arg(video)
        .arg("-i")
        .arg(vtt)
        .args(["-map", "0:v", "-map", "1:s", "-c:v", "copy", "-c:s", "mov_text"])
        .args(["-metadata:s:s:0", "handler_name=Keystrokes", "-metadata:s:s:0", "title=Keystrokes"])
        .args(["-movflags", "+faststart", "-f", "mp4"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(spawn)?;
    if output.status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(out);
    Err(EncodeError::Failed {
        status: output.status.to_string(),
        tail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

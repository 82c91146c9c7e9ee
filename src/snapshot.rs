//! `snapshot`: the composited display, cursor included, as it stands a given
//! number of milliseconds after the recording's first `sync`.

use std::path::{Path, PathBuf};

use crate::playback::{Diagnostics, Flow, FrameSink, PlaybackError, Recording, Report};
use crate::render::Surface;
use crate::render::composite::unpremultiply;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Playback(#[from] PlaybackError),
    #[error("{path}: cannot write PNG: {cause}")]
    Write { path: PathBuf, cause: String },
}

/// The picture at `at_ms` and what the reading reported.
pub struct Snapshot {
    pub picture: Surface,
    pub report: Report,
    /// Session time of the render point shown.
    pub shown_ms: i64,
}

/// Keeps the newest picture at or before the requested time.
struct Keep {
    at: i64,
    picture: Option<Surface>,
    shown: i64,
}

impl FrameSink for Keep {
    fn render_point(&mut self, t: i64, picture: Option<&Surface>) -> Result<Flow, PlaybackError> {
        if t > self.at && self.picture.is_some() {
            return Ok(Flow::Stop);
        }
        if let Some(p) = picture {
            match &mut self.picture {
                Some(kept) => kept.pixels_mut().copy_from_slice(p.pixels()),
                None => self.picture = Some(p.clone()),
            }
            self.shown = t;
        }
        Ok(Flow::Continue)
    }
}

/// Plays `recording` up to `at_ms` and returns the picture shown then.
pub fn snapshot(recording: &dyn Recording, at_ms: i64) -> Result<Snapshot, PlaybackError> {
    let diag = Diagnostics::default();
    let mut keep = Keep { at: at_ms, picture: None, shown: 0 };
    recording.play(&mut keep, &diag, &mut |_| {})?;
    let (w, h) = recording.screen();
    let picture = keep.picture.unwrap_or_else(|| Surface::new(w, h));
    Ok(Snapshot { picture, report: diag.snapshot(), shown_ms: keep.shown })
}

/// [`snapshot`] of recording files (unsealed).
pub fn snapshot_files(inputs: &[PathBuf], at_ms: i64) -> Result<Snapshot, PlaybackError> {
    snapshot(&*crate::playback::open(inputs, None)?, at_ms)
}

/// Opaque RGB bytes of a composed picture (it is composed over black).
pub fn to_rgb(picture: &Surface) -> Vec<u8> {
    picture
        .pixels()
        .iter()
        .flat_map(|&p| {
            let (r, g, b, _) = unpremultiply(p | 0xFF00_0000);
            [r, g, b]
        })
        .collect()
}

/// Writes a picture as an RGB PNG.
pub fn write_png(picture: &Surface, path: &Path) -> Result<(), SnapshotError> {
    let rgb = to_rgb(picture);
    image::save_buffer_with_format(
        path,
        &rgb,
        picture.width(),
        picture.height(),
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| SnapshotError::Write { path: path.to_path_buf(), cause: e.to_string() })
}

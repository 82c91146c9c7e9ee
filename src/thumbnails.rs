//! A thumbnail strip for scrubbing: small pictures of the frames the
//! converter already makes, at most one per interval of session time, laid
//! out in one JPEG sprite, with a WebVTT track naming each picture's region
//! (`sprite.jpg#xywh=x,y,w,h`), the format video.js and JW Player read.

use std::fmt::Write as _;
use std::path::Path;

use crate::keys::vtt::timestamp;

/// Most pictures in one strip: a long session gets a longer interval.
const MAX_THUMBNAILS: i64 = 600;
/// Pictures per row of the sprite.
const COLUMNS: usize = 10;
const JPEG_QUALITY: u8 = 75;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSettings {
    /// At most one picture per this much session time.
    pub interval_ms: i64,
    /// Width of a picture; its height keeps the screen's proportions.
    pub width: u32,
}

impl Default for ThumbnailSettings {
    fn default() -> ThumbnailSettings {
        ThumbnailSettings { interval_ms: 10_000, width: 160 }
    }
}

/// Collects pictures while frames go by.
pub struct Collector {
    interval_ms: i64,
    screen: (u32, u32),
    size: (u32, u32),
    pictures: Vec<(i64, Vec<u8>)>,
}

impl Collector {
    /// For a session of `span_ms` on a `screen`-sized picture.
    pub fn new(settings: ThumbnailSettings, screen: (u32, u32), span_ms: i64) -> Collector {
        let width = settings.width.clamp(16, screen.0.max(16));
        let height = ((screen.1 as u64 * width as u64) / screen.0.max(1) as u64).max(1) as u32;
        let interval_ms = settings.interval_ms.max(1000).max(span_ms / MAX_THUMBNAILS + 1);
        Collector { interval_ms, screen, size: (width, height), pictures: Vec::new() }
    }

    /// A frame shown from `ms` on (0x00RRGGBB pixels of the screen).
    pub fn frame(&mut self, ms: i64, pixels: &[u32]) {
        if self.pictures.last().is_some_and(|(last, _)| ms - last < self.interval_ms) {
            return;
        }
        if pixels.len() < (self.screen.0 * self.screen.1) as usize {
            return;
        }
        self.pictures.push((ms, shrink(pixels, self.screen, self.size)));
    }

    pub fn is_empty(&self) -> bool {
        self.pictures.is_empty()
    }

    /// Writes the sprite and its track; `sprite_name` is how the track
    /// refers to the sprite (beside it).
    pub fn write(
        &self,
        sprite: &Path,
        track: &Path,
        sprite_name: &str,
        video_end_ms: i64,
    ) -> std::io::Result<()> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let rows = self.pictures.len().div_ceil(COLUMNS).max(1);
        let columns = self.pictures.len().clamp(1, COLUMNS);
        let mut canvas = vec![0u8; columns * w * rows * h * 3];
        let stride = columns * w * 3;
        let mut vtt = String::from("WEBVTT\n\n");
        for (i, (ms, picture)) in self.pictures.iter().enumerate() {
            let (x, y) = ((i % COLUMNS) * w, (i / COLUMNS) * h);
            for row in 0..h {
                let at = (y + row) * stride + x * 3;
                canvas[at..at + w * 3].copy_from_slice(&picture[row * w * 3..(row + 1) * w * 3]);
            }
            // The first picture also stands for the moments before it.
            let start = if i == 0 { 0 } else { *ms };
            let end = self.pictures.get(i + 1).map_or(video_end_ms.max(ms + 1), |(next, _)| *next);
            let _ = write!(
                vtt,
                "{} --> {}\n{sprite_name}#xywh={x},{y},{w},{h}\n\n",
                timestamp(start),
                timestamp(end)
            );
        }
        let file = std::io::BufWriter::new(std::fs::File::create(sprite)?);
        image::codecs::jpeg::JpegEncoder::new_with_quality(file, JPEG_QUALITY)
            .encode(&canvas, (columns * w) as u32, (rows * h) as u32, image::ExtendedColorType::Rgb8)
            .map_err(std::io::Error::other)?;
        std::fs::write(track, vtt)
    }
}

/// Averages each block of the screen into one RGB pixel of `size`.
fn shrink(pixels: &[u32], screen: (u32, u32), size: (u32, u32)) -> Vec<u8> {
    let (sw, sh) = (screen.0 as usize, screen.1 as usize);
    let (w, h) = (size.0 as usize, size.1 as usize);
    let mut out = Vec::with_capacity(w * h * 3);
    for ty in 0..h {
        let (y0, y1) = (ty * sh / h, ((ty + 1) * sh / h).max(ty * sh / h + 1));
        for tx in 0..w {
            let (x0, x1) = (tx * sw / w, ((tx + 1) * sw / w).max(tx * sw / w + 1));
            let mut sum = [0u32; 3];
            for y in y0..y1.min(sh) {
                for &p in &pixels[y * sw + x0..y * sw + x1.min(sw)] {
                    sum[0] += (p >> 16) & 0xFF;
                    sum[1] += (p >> 8) & 0xFF;
                    sum[2] += p & 0xFF;
                }
            }
            let n = ((y1.min(sh) - y0) * (x1.min(sw) - x0)).max(1) as u32;
            out.extend(sum.map(|s| (s / n) as u8));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_picture_per_interval_in_a_sprite_with_its_track() {
        let settings = ThumbnailSettings { interval_ms: 10_000, width: 16 };
        let mut c = Collector::new(settings, (32, 20), 60_000);
        let red = vec![0x00FF_0000u32; 32 * 20];
        let blue = vec![0x0000_00FFu32; 32 * 20];
        c.frame(0, &red);
        c.frame(4000, &blue); // too soon
        c.frame(12_000, &blue);
        let dir = tempfile::tempdir().unwrap();
        let (jpg, vtt) = (dir.path().join("s.thumbs.jpg"), dir.path().join("s.thumbs.vtt"));
        c.write(&jpg, &vtt, "s.thumbs.jpg", 30_000).unwrap();
        let track = std::fs::read_to_string(&vtt).unwrap();
        assert_eq!(
            track,
            "WEBVTT\n\n00:00:00.000 --> 00:00:12.000\ns.thumbs.jpg#xywh=0,0,16,10\n\n\
             00:00:12.000 --> 00:00:30.000\ns.thumbs.jpg#xywh=16,0,16,10\n\n"
        );
        let sprite = image::open(&jpg).unwrap().to_rgb8();
        assert_eq!(sprite.dimensions(), (32, 10));
        let (left, right) = (sprite.get_pixel(8, 5), sprite.get_pixel(24, 5));
        assert!(left[0] > 200 && left[2] < 60, "red picture first: {left:?}");
        assert!(right[2] > 200 && right[0] < 60, "blue picture second: {right:?}");
    }
}

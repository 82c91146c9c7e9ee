//! A generated 3-minute 1920x1080 desktop with a photographic wallpaper:
//! the input on which keyframes and full-screen work cost the most (a noisy
//! photo does not compress, and every keyframe re-sends it). It draws what
//! guacd sends for a real desktop: the wallpaper as one PNG, windows as
//! filled rectangles, typing as small glyph-like fills, a window dragged
//! across the photo (exposed parts restored with `copy` from a buffer), a
//! scrolling terminal (`copy` of the screen onto itself), a pointer with its
//! own cursor image, and idle gaps.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const WIDTH: u32 = 1920;
pub const HEIGHT: u32 = 1080;
/// The session's length.
pub const SPAN_MS: i64 = 180_000;
/// Moments inside the idle stretches (40-70 s, 130-150 s, after 150 s),
/// where the picture is compared.
pub const QUIET_MS: [i64; 3] = [55_000, 140_000, 170_000];
/// guacd writes wall-clock milliseconds.
const EPOCH_MS: i64 = 1_764_000_000_000;
/// Base64 characters per `blob` (the protocol allows 8192 an element).
const BLOB_CHARS: usize = 6000;
/// Where the wallpaper is kept to restore what windows uncover.
const WALLPAPER_BUFFER: i32 = -2;
const CURSOR_BUFFER: i32 = -3;

/// Writes the session to `dest`; returns its size in bytes.
pub fn write(dest: &Path) -> Result<u64> {
    let file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut g = Gen { out: BufWriter::new(file), rng: StdRng::seed_from_u64(1080), mouse: (960, 540) };
    g.desktop()?;
    g.editor(1_000, 40_000)?;
    // 40-70 s: idle.
    g.drag_window(70_000, 90_000)?;
    g.terminal(90_000, 130_000)?;
    // 130-150 s: idle.
    g.close_windows(150_000)?;
    g.sync(SPAN_MS)?;
    g.out.flush()?;
    Ok(std::fs::metadata(dest)?.len())
}

struct Gen {
    out: BufWriter<File>,
    rng: StdRng,
    mouse: (i64, i64),
}

impl Gen {
    fn ins(&mut self, opcode: &str, args: &[String]) -> Result<()> {
        write!(self.out, "{}.{}", opcode.len(), opcode)?;
        for a in args {
            write!(self.out, ",{}.{}", a.chars().count(), a)?;
        }
        self.out.write_all(b";")?;
        Ok(())
    }

    fn sync(&mut self, t: i64) -> Result<()> {
        self.ins("sync", &[(EPOCH_MS + t).to_string()])
    }

    fn fill(&mut self, layer: i32, (x, y, w, h): (i64, i64, i64, i64), rgb: (u8, u8, u8)) -> Result<()> {
        self.ins("rect", &args(&[layer.into(), x, y, w, h]))?;
        let (r, g, b) = rgb;
        self.ins("cfill", &args(&[14, layer.into(), r.into(), g.into(), b.into(), 255]))
    }

    /// guacd copies with OVER (mask 14), as in the samples: SRC would clear
    /// the rest of the layer.
    fn copy(&mut self, src: i32, (x, y, w, h): (i64, i64, i64, i64), dst: i32, to: (i64, i64)) -> Result<()> {
        self.ins("copy", &args(&[src.into(), x, y, w, h, 14, dst.into(), to.0, to.1]))
    }

    fn mouse_to(&mut self, x: i64, y: i64, t: i64) -> Result<()> {
        self.mouse = (x.clamp(0, WIDTH as i64 - 1), y.clamp(0, HEIGHT as i64 - 1));
        self.ins("mouse", &args(&[self.mouse.0, self.mouse.1, 0, EPOCH_MS + t]))
    }

    /// The wallpaper, kept in a buffer too; a taskbar; the pointer's image.
    fn desktop(&mut self) -> Result<()> {
        self.ins("size", &args(&[0, WIDTH.into(), HEIGHT.into()]))?;
        let png = wallpaper(&mut self.rng)?;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        self.ins("img", &["1".into(), "14".into(), "0".into(), "image/png".into(), "0".into(), "0".into()])?;
        for chunk in data.as_bytes().chunks(BLOB_CHARS) {
            let text = std::str::from_utf8(chunk).expect("base64 is ASCII");
            self.ins("blob", &["1".into(), text.into()])?;
        }
        self.ins("end", &["1".into()])?;
        self.copy(0, (0, 0, WIDTH.into(), HEIGHT.into()), WALLPAPER_BUFFER, (0, 0))?;
        self.fill(0, (0, HEIGHT as i64 - 40, WIDTH.into(), 40), (40, 44, 52))?;
        // An arrow: a white block with a dark edge, 12x18.
        self.fill(CURSOR_BUFFER, (0, 0, 12, 18), (20, 20, 20))?;
        self.fill(CURSOR_BUFFER, (1, 1, 9, 15), (250, 250, 250))?;
        self.ins("cursor", &args(&[0, 0, CURSOR_BUFFER.into(), 0, 0, 12, 18]))?;
        self.mouse_to(960, 540, 0)?;
        self.sync(0)
    }

    /// A text editor opens; someone types into it, one character each 120 ms.
    fn editor(&mut self, from: i64, to: i64) -> Result<()> {
        let (x0, y0, w, h) = (200, 120, 1100, 720);
        self.window((x0, y0, w, h), (250, 250, 250))?;
        self.sync(from)?;
        let (mut col, mut line) = (0, 0);
        let mut t = from + 500;
        while t < to {
            if self.rng.random_range(0..9) == 0 {
                col += 1; // a space
            } else {
                let ink = (30, 30, 36);
                self.glyph(x0 + 16 + col * 10, y0 + 44 + line * 20, ink)?;
                col += 1;
            }
            if col >= 100 {
                (col, line) = (0, (line + 1) % 32);
            }
            if t % 600 < 120 {
                let (dx, dy) = (self.rng.random_range(-6..=6), self.rng.random_range(-4..=4));
                self.mouse_to(self.mouse.0 + dx, self.mouse.1 + dy, t)?;
            }
            self.sync(t)?;
            t += 120;
        }
        Ok(())
    }

    /// A window dragged across the photo, 8 px every 60 ms.
    fn drag_window(&mut self, from: i64, to: i64) -> Result<()> {
        let (w, h) = (600, 400);
        let mut pos = (1250i64, 80i64);
        self.window((pos.0, pos.1, w, h), (236, 240, 244))?;
        self.sync(from)?;
        let mut t = from + 60;
        let mut step = 0;
        while t < to {
            let next = if step % 100 < 50 { (pos.0 - 8, pos.1 + 5) } else { (pos.0 + 8, pos.1 - 5) };
            // Uncovered photo comes back from the buffer, then the window is drawn anew.
            self.copy(WALLPAPER_BUFFER, (pos.0, pos.1, w, h), 0, pos)?;
            pos = next;
            self.window((pos.0, pos.1, w, h), (236, 240, 244))?;
            self.mouse_to(pos.0 + 300, pos.1 + 12, t)?;
            self.sync(t)?;
            t += 60;
            step += 1;
        }
        Ok(())
    }

    /// A terminal that scrolls: the text moves up one line (a copy of the
    /// screen onto itself), a new line is written at the bottom.
    fn terminal(&mut self, from: i64, to: i64) -> Result<()> {
        let (x0, y0, w, h) = (700, 420, 1000, 560);
        self.window((x0, y0, w, h), (12, 12, 12))?;
        self.sync(from)?;
        let body = (x0 + 8, y0 + 40, w - 16, h - 48);
        let mut t = from + 150;
        while t < to {
            self.copy(0, (body.0, body.1 + 18, body.2, body.3 - 18), 0, (body.0, body.1))?;
            let last = body.1 + body.3 - 18;
            self.fill(0, (body.0, last, body.2, 18), (12, 12, 12))?;
            let chars = self.rng.random_range(10..95);
            for c in 0..chars {
                if self.rng.random_range(0..7) != 0 {
                    self.glyph(body.0 + c * 10, last + 1, (200, 220, 200))?;
                }
            }
            self.sync(t)?;
            t += 150;
        }
        Ok(())
    }

    /// Everything but the desktop goes away at `t`.
    fn close_windows(&mut self, t: i64) -> Result<()> {
        self.copy(WALLPAPER_BUFFER, (0, 0, WIDTH.into(), HEIGHT as i64 - 40), 0, (0, 0))?;
        self.mouse_to(40, HEIGHT as i64 - 20, t)?;
        self.sync(t)
    }

    /// A window: a title bar and a body.
    fn window(&mut self, (x, y, w, h): (i64, i64, i64, i64), body: (u8, u8, u8)) -> Result<()> {
        self.fill(0, (x, y, w, 32), (52, 101, 164))?;
        self.fill(0, (x, y + 32, w, h - 32), body)
    }

    /// A character-sized mark: two or three strokes in an 8x16 cell.
    fn glyph(&mut self, x: i64, y: i64, ink: (u8, u8, u8)) -> Result<()> {
        let strokes = self.rng.random_range(2..=3);
        for _ in 0..strokes {
            let (gx, gy) = (self.rng.random_range(0..6), self.rng.random_range(0..13));
            let (gw, gh) = (self.rng.random_range(1..=8 - gx), self.rng.random_range(2..=16 - gy));
            self.fill(0, (x + gx, y + gy, gw, gh), ink)?;
        }
        Ok(())
    }
}

fn args(values: &[i64]) -> Vec<String> {
    values.iter().map(i64::to_string).collect()
}

/// A photo-like picture: smooth colour fields (sky, hills, light) with
/// sensor noise on every pixel, which is what defeats compression.
fn wallpaper(rng: &mut StdRng) -> Result<Vec<u8>> {
    let mut img = image::RgbImage::new(WIDTH, HEIGHT);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let horizon = 620.0 + 90.0 * (fx / 310.0).sin() + 35.0 * (fx / 97.0).cos();
        let base = if fy < horizon {
            let sky = fy / horizon;
            [70.0 + 90.0 * sky, 120.0 + 70.0 * sky, 200.0 + 30.0 * sky]
        } else {
            let ground = (fy - horizon) / (f64::from(HEIGHT) - horizon + 1.0);
            let grass = 20.0 * (fx / 41.0 + fy / 29.0).sin();
            [60.0 + 40.0 * ground + grass, 110.0 - 30.0 * ground + grass, 50.0 + 10.0 * ground]
        };
        let light = 25.0 * ((fx - 1400.0).hypot(fy - 200.0) / -500.0).exp();
        let mut c = [0u8; 3];
        for (i, v) in base.iter().enumerate() {
            let noise = f64::from(rng.random_range(-14i32..=14));
            c[i] = (v + light + noise).clamp(0.0, 255.0) as u8;
        }
        *px = image::Rgb(c);
    }
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).context("encoding the wallpaper")?;
    Ok(png.into_inner())
}

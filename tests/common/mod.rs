//! Helpers shared by the integration tests: crafting recordings, images,
//! samples, and comparing pictures.
#![allow(dead_code)]

use std::fmt::Display;
use std::path::{Path, PathBuf};

use image::ImageFormat;

pub mod fake_core;
pub mod lion;
pub mod nats;
pub mod server;
pub mod storage_servers;

/// The real guacd recordings beside the checkout (or `VW_SAMPLES`).
pub fn samples_dir() -> PathBuf {
    std::env::var_os("VW_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples"))
}

pub fn sample(name: &str) -> PathBuf {
    let path = samples_dir().join(name);
    assert!(path.is_file(), "sample {} is missing (set VW_SAMPLES)", path.display());
    path
}

pub const RDP: &str = "rdp-1280x800-2min-pngjpeg.guac";
pub const VNC: &str = "vnc-1280x800-3min.guac";

/// Builds a recording instruction by instruction, with correct length
/// prefixes (they count characters, not bytes).
#[derive(Default, Clone)]
pub struct Rec {
    text: String,
}

impl Rec {
    pub fn new() -> Rec {
        Rec::default()
    }

    pub fn op(mut self, opcode: &str, args: &[&dyn Display]) -> Rec {
        let mut push = |v: &str| {
            self.text.push_str(&format!("{}.{}", v.chars().count(), v));
        };
        push(opcode);
        for a in args {
            self.text.push(',');
            let v = a.to_string();
            self.text.push_str(&format!("{}.{}", v.chars().count(), v));
        }
        self.text.push(';');
        self
    }

    pub fn raw(mut self, text: &str) -> Rec {
        self.text.push_str(text);
        self
    }

    pub fn size(self, layer: i32, w: i32, h: i32) -> Rec {
        self.op("size", &[&layer, &w, &h])
    }

    pub fn rect(self, layer: i32, x: i32, y: i32, w: i32, h: i32) -> Rec {
        self.op("rect", &[&layer, &x, &y, &w, &h])
    }

    pub fn cfill(self, mask: i32, layer: i32, rgba: [u8; 4]) -> Rec {
        self.op("cfill", &[&mask, &layer, &rgba[0], &rgba[1], &rgba[2], &rgba[3]])
    }

    /// `rect` + `cfill` with OVER.
    pub fn fill(self, layer: i32, x: i32, y: i32, w: i32, h: i32, rgba: [u8; 4]) -> Rec {
        self.rect(layer, x, y, w, h).cfill(14, layer, rgba)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        self,
        src: i32,
        sx: i32,
        sy: i32,
        w: i32,
        h: i32,
        mask: i32,
        dst: i32,
        dx: i32,
        dy: i32,
    ) -> Rec {
        self.op("copy", &[&src, &sx, &sy, &w, &h, &mask, &dst, &dx, &dy])
    }

    pub fn sync(self, t: i64) -> Rec {
        self.op("sync", &[&t, &1])
    }

    pub fn mouse(self, x: i32, y: i32, t: i64) -> Rec {
        self.op("mouse", &[&x, &y, &0, &t])
    }

    /// An image stream: `img`, its data in blobs of guacd's size, `end`.
    #[allow(clippy::too_many_arguments)]
    pub fn img(mut self, stream: i32, mask: i32, layer: i32, mime: &str, x: i32, y: i32, data: &[u8]) -> Rec {
        self = self.op("img", &[&stream, &mask, &layer, &mime, &x, &y]);
        for chunk in data.chunks(6048) {
            self = self.op("blob", &[&stream, &b64(chunk)]);
        }
        self.op("end", &[&stream])
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.text.clone().into_bytes()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Writes the recording into `dir` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.text.as_bytes()).unwrap();
        path
    }
}

pub fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An image of one colour (RGBA) in the given format.
pub fn solid_image(w: u32, h: u32, rgba: [u8; 4], format: ImageFormat) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba(rgba));
    encode(image::DynamicImage::ImageRgba8(img), format)
}

pub fn encode(img: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let img = if format == ImageFormat::Jpeg { image::DynamicImage::ImageRgb8(img.to_rgb8()) } else { img };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// RGB bytes of a PNG file, composited over black (as our frames are).
pub fn png_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path).unwrap().to_rgba8();
    let (w, h) = img.dimensions();
    let rgb = img
        .pixels()
        .flat_map(|p| {
            let a = u32::from(p[3]);
            [0, 1, 2].map(|i| ((u32::from(p[i]) * a + 127) / 255) as u8)
        })
        .collect();
    (w, h, rgb)
}

/// Peak signal-to-noise ratio of two RGB pictures, in dB (inf when equal).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "pictures differ in size");
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum();
    if se == 0.0 {
        return f64::INFINITY;
    }
    let mse = se / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Whether node, Chromium and `npm ci` in `tests/<harness>` (with
/// `node_modules/<package>`) are there for a browser test; panics when
/// VW_REQUIRE_CONFORMANCE=1 (CI) and they are not, else says it skips.
pub fn browser_tools(harness: &str, package: &str) -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(harness);
    let npm = format!("npm ci in tests/{harness}");
    let missing: Vec<&str> = [
        (std::process::Command::new("node").arg("--version").output().is_err(), "node"),
        (!Path::new(&chromium).exists(), "chromium"),
        (!dir.join("node_modules").join(package).is_dir(), npm.as_str()),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var("VW_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(!required, "browser test tools required but missing: {missing:?}");
    eprintln!("SKIPPED: browser test tools missing: {missing:?}");
    false
}

/// Path of the built `video-worker` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_video-worker"))
}

/// Runs `ffprobe -v error -select_streams v:0 -show_entries ENTRIES -of FORMAT PATH`.
fn ffprobe(path: &Path, entries: &str, format: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", format])
        .arg(path)
        .output()
        .expect("ffprobe must be installed");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Output of `ffprobe` for a video: (codec, pix_fmt, profile, width, height, duration s).
pub fn probe(path: &Path) -> (String, String, String, u32, u32, f64) {
    let text = ffprobe(
        path,
        "stream=codec_name,pix_fmt,profile,width,height:format=duration",
        "default=noprint_wrappers=1",
    );
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("ffprobe gave no {k}: {text}"))
            .to_string()
    };
    (
        get("codec_name"),
        get("pix_fmt"),
        get("profile"),
        get("width").parse().unwrap(),
        get("height").parse().unwrap(),
        get("duration").parse().unwrap(),
    )
}

/// (pts in ms, is keyframe) of every video packet, in presentation order.
pub fn packets(path: &Path) -> Vec<(i64, bool)> {
    let text = ffprobe(path, "packet=pts,flags", "csv=p=0");
    let mut packets: Vec<(i64, bool)> = text
        .lines()
        .filter_map(|l| {
            let (pts, flags) = l.split_once(',')?;
            Some((pts.parse().ok()?, flags.contains('K')))
        })
        .collect();
    packets.sort();
    packets
}

/// Moments (ms after the first sync) inside quiet periods of a recording:
/// at least `quiet_ms` without any sync or mouse on both sides, right after
/// a `sync` (so no pointer move is pending). There the browser player and
/// our renderer must show the same picture.
pub fn quiet_times(path: &Path, quiet_ms: i64, count: usize) -> Vec<i64> {
    use video_worker::guac::{Event, Instruction, Parser};
    let reader = video_worker::guac::input::open_recording(path, None).unwrap();
    let mut parser = Parser::new(reader);
    // (timestamp, is_sync) of every render point, in stream order.
    let mut points: Vec<(i64, bool)> = Vec::new();
    while let Some(event) = parser.next_event() {
        if let Event::Instruction(raw) = event {
            match Instruction::from_raw(&raw) {
                Ok(Instruction::Sync { timestamp }) => points.push((timestamp, true)),
                Ok(Instruction::Mouse { timestamp: Some(t), .. }) => points.push((t, false)),
                _ => {}
            }
        }
    }
    let origin = points.iter().find(|p| p.1).expect("a sync").0;
    let mut candidates = Vec::new();
    let mut latest = i64::MIN;
    for (i, &(t, is_sync)) in points.iter().enumerate() {
        latest = latest.max(t);
        let next = points.get(i + 1).map(|p| p.0);
        if is_sync && next.is_some_and(|n| n - latest >= quiet_ms) && t == latest {
            candidates.push(t - origin + quiet_ms / 2);
        }
    }
    // Spread the picks over the recording.
    let step = (candidates.len() / count.max(1)).max(1);
    candidates.into_iter().step_by(step).take(count).collect()
}

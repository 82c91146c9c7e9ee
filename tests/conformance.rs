//! Conformance with the reference player: the same moments rendered by
//! guacamole-common-js in headless Chromium (tests/conformance/render.mjs)
//! and by our renderer must agree over the whole frame.
//!
//! Needs node, Chromium and `npm ci` in tests/conformance. Where they are
//! missing the tests say so and pass, unless VW_REQUIRE_CONFORMANCE=1 (set by
//! .ci/run), which turns a missing tool into a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Rec, png_rgb, psnr, sample, solid_image};
use image::ImageFormat;
use video_worker::snapshot::{snapshot_files, to_rgb};

/// Lowest acceptable PSNR over a whole frame, in dB. Image decoders round
/// differently (JPEG IDCT, WebP), so equal is too strict; a wrong layer,
/// colour or position drops far below this.
const MIN_PSNR: f64 = 50.0;
/// Most pixels allowed to differ by more than 48 in a channel.
const MAX_BAD_PIXELS: f64 = 0.001;

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Whether the oracle can run; panics if it must and cannot.
fn oracle_available() -> bool {
    common::browser_tools("conformance", "puppeteer-core")
}

/// Renders `times` with the browser player into `out`.
fn oracle(recording: &Path, times: &[i64], out: &Path) {
    let at: Vec<String> = times.iter().map(|t| t.to_string()).collect();
    let result = Command::new("node")
        .arg(harness_dir().join("render.mjs"))
        .arg("--recording")
        .arg(recording)
        .arg("--at")
        .arg(at.join(","))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(result.status.success(), "render.mjs failed: {}", String::from_utf8_lossy(&result.stderr));
}

/// Compares our picture with the player's at each time; returns the PSNRs.
fn compare(recording: &Path, times: &[i64]) -> Vec<f64> {
    let out = tempfile::tempdir().unwrap();
    oracle(recording, times, out.path());
    times
        .iter()
        .map(|&t| {
            let (w, h, theirs) = png_rgb(&out.path().join(format!("{t}.png")));
            let ours = snapshot_files(&[recording.to_path_buf()], t).unwrap().picture;
            assert_eq!((ours.width(), ours.height()), (w, h), "size at {t} ms");
            let ours = to_rgb(&ours);
            let db = psnr(&ours, &theirs);
            let bad = ours
                .chunks(3)
                .zip(theirs.chunks(3))
                .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 48))
                .count() as f64
                / f64::from(w * h);
            eprintln!("{} at {t} ms: PSNR {db:.1} dB, {:.4} % pixels off", recording.display(), bad * 100.0);
            assert!(db >= MIN_PSNR, "{} at {t} ms: PSNR {db:.1} dB < {MIN_PSNR}", recording.display());
            assert!(
                bad <= MAX_BAD_PIXELS,
                "{} at {t} ms: {:.3} % pixels differ",
                recording.display(),
                bad * 100.0
            );
            db
        })
        .collect()
}

#[test]
fn real_rdp_recording_matches_the_browser_player() {
    if oracle_available() {
        let path = sample(common::RDP);
        compare(&path, &common::quiet_times(&path, 1000, 6));
    }
}

#[test]
fn real_vnc_recording_matches_the_browser_player() {
    if oracle_available() {
        let path = sample(common::VNC);
        compare(&path, &common::quiet_times(&path, 1000, 6));
    }
}

/// Everything real desktop recordings lack: child layers with z and
/// opacity, composite modes, transfer, images of all types, a cursor.
fn kitchen_sink() -> Rec {
    let mut cursor = image::RgbaImage::from_pixel(12, 12, image::Rgba([0, 0, 0, 0]));
    for i in 0..12 {
        cursor.put_pixel(i, i, image::Rgba([255, 255, 255, 255]));
        cursor.put_pixel(i, 0, image::Rgba([0, 0, 0, 200]));
    }
    let cursor = common::encode(image::DynamicImage::ImageRgba8(cursor), ImageFormat::WebP);
    let gradient = image::RgbImage::from_fn(64, 32, |x, y| image::Rgb([(x * 4) as u8, (y * 8) as u8, 128]));
    let jpeg = common::encode(image::DynamicImage::ImageRgb8(gradient), ImageFormat::Jpeg);
    Rec::new()
        .size(0, 320, 200)
        .fill(0, 0, 0, 320, 200, [40, 60, 90, 255])
        .img(1, 14, 0, "image/jpeg", 10, 10, &jpeg)
        .img(2, 14, 0, "image/png", 100, 10, &solid_image(30, 30, [255, 0, 0, 160], ImageFormat::Png))
        .sync(1000)
        // Child layers: z order, nesting, opacity.
        .size(1, 80, 60)
        .fill(1, 0, 0, 80, 60, [0, 200, 0, 255])
        .op("move", &[&1, &0, &150, &60, &2])
        .size(2, 80, 60)
        .fill(2, 0, 0, 80, 60, [200, 0, 200, 255])
        .op("move", &[&2, &0, &190, &90, &1])
        .size(3, 20, 20)
        .fill(3, 0, 0, 20, 20, [255, 255, 0, 255])
        .op("move", &[&3, &1, &10, &10, &0])
        .op("shade", &[&2, &140])
        .sync(2000)
        // Composite modes on a buffer, then copied to the screen.
        .size(-1, 60, 40)
        .fill(-1, 0, 0, 60, 40, [0, 128, 255, 255])
        .rect(-1, 10, 10, 20, 20)
        .cfill(2, -1, [0, 0, 0, 255])
        .rect(-1, 35, 5, 20, 20)
        .cfill(11, -1, [255, 128, 0, 255])
        .copy(-1, 0, 0, 60, 40, 14, 0, 20, 130)
        .fill(-2, 0, 0, 60, 40, [255, 0, 0, 255])
        .op("transfer", &[&-2, &0, &0, &60, &40, &6, &0, &90, &130])
        .sync(3000)
        // A cursor with alpha, placed by the mouse.
        .size(-3, 12, 12)
        .img(3, 14, -3, "image/webp", 0, 0, &cursor)
        .op("cursor", &[&2, &2, &-3, &0, &0, &12, &12])
        .mouse(60, 70, 4000)
        .sync(4000)
        .sync(6000)
}

#[test]
fn crafted_layers_modes_and_cursor_match_the_browser_player() {
    if oracle_available() {
        let dir = tempfile::tempdir().unwrap();
        let path = kitchen_sink().write(dir.path(), "kitchen-sink.guac");
        compare(&path, &[500, 1500, 2500, 3500, 5000]);
    }
}

//! The picture of the generated desktop: the MP4's own frame against the
//! renderer's snapshot at quiet moments (PSNR over RGB, the frame decoded as
//! a player would: BT.709, limited range), beside the ceiling that 4:2:0
//! itself allows (the snapshot through yuv420p and back, no encoder at all).
//! The samples are checked against the reference player by the tests.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One quiet moment.
pub struct Picture {
    pub at_ms: i64,
    pub psnr_db: f64,
    /// What yuv420p alone leaves of the snapshot: no encoder does better.
    pub ceiling_db: f64,
}

pub fn measure(binary: &Path, input: &Path, mp4: &Path, dir: &Path, moments: &[i64]) -> Result<Vec<Picture>> {
    moments.iter().map(|&at_ms| moment(binary, input, mp4, dir, at_ms)).collect()
}

fn moment(binary: &Path, input: &Path, mp4: &Path, dir: &Path, at_ms: i64) -> Result<Picture> {
    let snapshot = dir.join(format!("snapshot-{at_ms}.png"));
    let status = Command::new(binary)
        .arg("snapshot")
        .arg(input)
        .arg("--at")
        .arg(at_ms.to_string())
        .arg("-o")
        .arg(&snapshot)
        .output()
        .context("running snapshot")?
        .status;
    if !status.success() {
        bail!("snapshot at {at_ms} ms failed ({status})");
    }
    let at_s = format!("{:.3}", at_ms as f64 / 1000.0);
    let frame = dir.join(format!("frame-{at_ms}.png"));
    let select = format!("select=lte(t\\,{at_s}),scale=in_color_matrix=bt709:in_range=tv,format=rgb24");
    ffmpeg(&["-i", &s(mp4), "-vf", &select, "-fps_mode", "passthrough", "-update", "1", "-y", &s(&frame)])?;
    let yuv = dir.join(format!("snapshot-{at_ms}.yuv"));
    let to_yuv = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p";
    ffmpeg(&["-i", &s(&snapshot), "-vf", to_yuv, "-f", "rawvideo", "-y", &s(&yuv)])?;
    let (w, h) = image::image_dimensions(&snapshot).context("reading the snapshot's size")?;
    let back = dir.join(format!("ceiling-{at_ms}.png"));
    let size = format!("{w}x{h}");
    let from_yuv = "scale=in_color_matrix=bt709:in_range=tv,format=rgb24";
    ffmpeg(&[
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &size,
        "-i",
        &s(&yuv),
        "-vf",
        from_yuv,
        "-y",
        &s(&back),
    ])?;
    Ok(Picture { at_ms, psnr_db: psnr(&frame, &snapshot)?, ceiling_db: psnr(&back, &snapshot)? })
}

/// ffmpeg's PSNR of two pictures over RGB (its `average:` figure).
fn psnr(a: &Path, b: &Path) -> Result<f64> {
    let lavfi = "[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr";
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i", &s(a), "-i", &s(b), "-lavfi", lavfi, "-f", "null", "-"])
        .output()
        .context("running ffmpeg's psnr")?;
    let log = String::from_utf8_lossy(&out.stderr);
    let value = log.rsplit("average:").next().and_then(|rest| rest.split_whitespace().next());
    match value {
        Some("inf") => Ok(f64::INFINITY),
        Some(v) => v.parse().with_context(|| format!("psnr {v:?}")),
        None => bail!("no psnr in ffmpeg's output: {log}"),
    }
}

fn ffmpeg(args: &[&str]) -> Result<()> {
    let out = Command::new("ffmpeg").args(["-v", "error"]).args(args).output().context("running ffmpeg")?;
    if !out.status.success() {
        bail!("ffmpeg {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

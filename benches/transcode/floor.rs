//! The physical floor of a conversion: x264 alone on our own frames.
//!
//! The binary runs once with `--ffmpeg` pointing at a wrapper that records
//! ffmpeg's arguments and tees the frame pipe into a file; then the real
//! ffmpeg runs on that file with the very same arguments, and its CPU time
//! is what no renderer can go below. Divided by the cores, it is the wall
//! time to aim at.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// x264 alone on the frames of one conversion.
pub struct Floor {
    /// CPU time (user + system) of ffmpeg encoding the recorded pipe.
    pub cpu_s: f64,
    /// Size of the recorded pipe (I420 frames in Matroska).
    pub pipe_bytes: u64,
}

/// Converts `input` through the tee, then encodes the teed frames alone.
pub fn measure(binary: &Path, input: &Path, out_dir: &Path, label: &str) -> Result<Floor> {
    let dir = out_dir.join(format!("{label}-floor"));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure_in(binary, input, &dir);
    // The pipe is gigabytes at 1080p: never leave it behind.
    let _ = fs::remove_dir_all(&dir);
    result
}

fn measure_in(binary: &Path, input: &Path, dir: &Path) -> Result<Floor> {
    let ffmpeg = real_ffmpeg();
    let wrapper = dir.join("tee-ffmpeg.sh");
    let script = "#!/bin/sh\n\
        # Records the arguments and the frame pipe, then runs the real ffmpeg.\n\
        printf '%s\\n' \"$@\" > \"$VW_TEE_DIR/args\"\n\
        tee \"$VW_TEE_DIR/frames.mkv\" | \"$VW_REAL_FFMPEG\" \"$@\"\n";
    fs::write(&wrapper, script)?;
    make_executable(&wrapper)?;
    let status = Command::new(binary)
        .arg("convert")
        .arg(input)
        .arg("-o")
        .arg(dir.join("teed.mp4"))
        .arg("--ffmpeg")
        .arg(&wrapper)
        .env("VW_TEE_DIR", dir)
        .env("VW_REAL_FFMPEG", &ffmpeg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("converting through the tee")?;
    if !status.success() {
        bail!("the conversion through the tee failed ({status})");
    }
    let pipe = dir.join("frames.mkv");
    let pipe_bytes =
        fs::metadata(&pipe).with_context(|| format!("{} was not written", pipe.display()))?.len();
    let args = replay_args(&fs::read_to_string(dir.join("args"))?, &pipe, &dir.join("alone.mp4"))?;
    let child = Command::new(&ffmpeg)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", ffmpeg.display()))?;
    let (status, usage) = super::wait_with_usage(child.id())?;
    if status != 0 {
        bail!("ffmpeg alone on the teed frames failed (wait status {status:#x})");
    }
    Ok(Floor { cpu_s: super::seconds(usage.ru_utime) + super::seconds(usage.ru_stime), pipe_bytes })
}

/// ffmpeg's recorded arguments, reading `pipe` instead of stdin and writing
/// `output` instead of the conversion's MP4 (its last argument).
fn replay_args(recorded: &str, pipe: &Path, output: &Path) -> Result<Vec<String>> {
    let mut args: Vec<String> = recorded.lines().map(str::to_string).collect();
    let input = args.iter().position(|a| a == "pipe:0").context("ffmpeg's arguments do not read pipe:0")?;
    args[input] = pipe.display().to_string();
    let last = args.last_mut().context("ffmpeg had no arguments")?;
    *last = output.display().to_string();
    Ok(args)
}

/// The ffmpeg the binary would run (its environment names it, as ours does).
fn real_ffmpeg() -> PathBuf {
    std::env::var_os("FFMPEG_PATH").map_or_else(|| PathBuf::from("ffmpeg"), PathBuf::from)
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

//! `--engine guacenc`: for admins who insist on Apache's own renderer.
//!
//! guacenc only reads one raw file and always writes `INPUT.m4v` (MPEG-4
//! Part 2) beside it, and its exit status is 0 even when it failed. So the
//! parts are joined (decompressed) into a private work directory, guacenc
//! runs there at the session's size, and its `.m4v` is re-encoded to the
//! same H.264 MP4 the native engine makes. The checks look at the files, not
//! at guacenc's exit status.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::convert::{ConvertError, Finished, Summary, part_path};
use crate::encode::ffmpeg::{h264_args, spawn, wait};
use crate::encode::{EncodeError, EncodeSettings, output_size};
use crate::guac::input::open_recording;
use crate::playback::{Report, Session};

pub fn convert(
    inputs: &[PathBuf],
    output: &Path,
    settings: &EncodeSettings,
    guacenc: &Path,
) -> Result<Summary, ConvertError> {
    settings.validate().map_err(ConvertError::Settings)?;
    let started = Instant::now();
    let session = Session::open(inputs, None)?;
    let size = output_size(session.screen, settings.max_size);
    let work = work_dir(output);
    let result = run_in(&work, inputs, output, settings, guacenc, size);
    let _ = fs::remove_dir_all(&work);
    let ffmpeg_log = result?;
    let done =
        Finished { frames: 0, span_ms: session.timebase.span, size, report: Report::default(), ffmpeg_log };
    Summary::of(output, &session, done, started)
}

fn work_dir(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".guacenc");
    PathBuf::from(name)
}

fn run_in(
    work: &Path,
    inputs: &[PathBuf],
    output: &Path,
    settings: &EncodeSettings,
    guacenc: &Path,
    size: (u32, u32),
) -> Result<String, ConvertError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConvertError::Output { path, source }
    };
    fs::create_dir_all(work).map_err(io_err(work))?;
    let joined = work.join("recording.guac");
    join_parts(inputs, &joined).map_err(io_err(&joined))?;
    let m4v = run_guacenc(guacenc, &joined, size)?;
    let part = part_path(output);
    let mut args: Vec<String> =
        ["-hide_banner", "-nostats", "-loglevel", "warning", "-i"].iter().map(|s| s.to_string()).collect();
    args.push(m4v.display().to_string());
    args.extend(h264_args(settings));
    args.extend(["-f".into(), "mp4".into(), "-y".into(), part.display().to_string()]);
    let (child, log) = spawn(&settings.ffmpeg, &args, Stdio::null())?;
    match wait(child, log) {
        Ok(stderr) => {
            fs::rename(&part, output).map_err(io_err(output))?;
            Ok(stderr)
        }
        Err(e) => {
            let _ = fs::remove_file(&part);
            Err(e.into())
        }
    }
}

/// Writes the parts, decompressed, one after the other.
fn join_parts(inputs: &[PathBuf], joined: &Path) -> io::Result<()> {
    let mut out = io::BufWriter::new(fs::File::create(joined)?);
    for input in inputs {
        let mut reader = open_recording(input, None).map_err(io::Error::other)?;
        io::copy(&mut reader, &mut out)?;
    }
    io::Write::flush(&mut out)
}

fn run_guacenc(guacenc: &Path, input: &Path, size: (u32, u32)) -> Result<PathBuf, ConvertError> {
    let out = Command::new(guacenc)
        .arg("-s")
        .arg(format!("{}x{}", size.0, size.1))
        .arg("-f")
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ConvertError::Encode(EncodeError::Spawn {
                path: guacenc.to_path_buf(),
                source: io::Error::new(
                    e.kind(),
                    "guacenc not found: install guacamole-server's guacenc or give its path (--guacenc)",
                ),
            }),
            _ => ConvertError::Encode(EncodeError::Spawn { path: guacenc.to_path_buf(), source: e }),
        })?;
    let m4v = PathBuf::from(format!("{}.m4v", input.display()));
    let produced = fs::metadata(&m4v).map(|m| m.len() > 0).unwrap_or(false);
    if !produced || !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(ConvertError::Encode(EncodeError::Failed {
            status: format!("guacenc {}", out.status),
            tail: if produced { tail.join(" | ") } else { format!("no video written; {}", tail.join(" | ")) },
        }));
    }
    Ok(m4v)
}

//! The ffmpeg subprocess: owns spawning, the command line, feeding frames
//! on stdin, capturing stderr for the task log, and mapping failures.
//!
//! Running ffmpeg as a program (instead of linking libav*) keeps the build
//! free of C libraries, lets a crash in the encoder kill only the child, and
//! keeps the GPL encoder out of this binary.

use std::io::{self, BufWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use super::mkv;
use super::settings::EncodeSettings;
use super::watchdog::Watchdog;

/// Most of ffmpeg's stderr kept for the log (its tail, if longer).
const MAX_STDERR: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "ffmpeg not found at '{0}': install it (Debian: apt-get install ffmpeg) or give its path (--ffmpeg / FFMPEG_PATH)"
    )]
    Missing(PathBuf),
    #[error("cannot start ffmpeg '{path}': {source}")]
    Spawn { path: PathBuf, source: io::Error },
    #[error("ffmpeg failed ({status}): {tail}")]
    Failed { status: String, tail: String },
    #[error("writing frames to ffmpeg failed: {0}")]
    Pipe(io::Error),
    #[error("ffmpeg made no progress for {0} s and was stopped (FFMPEG_STALL_SECONDS)")]
    Stalled(u64),
}

/// The arguments for encoding a Matroska I420 stream on stdin to `output`.
/// The frames are BT.709 limited range (see `yuv`), and the stream says so.
///
/// `end_ms` is the session's end: the last frame lasts until then (see
/// [`last_frame_duration`]), so the video ends with the session and no
/// frame is repeated to mark the end.
pub fn encode_args(
    s: &EncodeSettings,
    input: (u32, u32),
    output: (u32, u32),
    end_ms: i64,
    path: &Path,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "warning",
        "-f",
        "matroska",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0",
        "-fps_mode",
        "vfr",
        // The encoder counts in the pipe's milliseconds. Left to itself,
        // ffmpeg 5.1 picks 1/(the frame rate it guessed from the first
        // frames) and rounds every timestamp to it: four frames at 0, 500,
        // 2000 ms came out at 0, 750, 2250 ms.
        "-enc_time_base",
        "1:1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if input != output {
        args.push("-vf".into());
        args.push(format!("scale={}:{}:flags=bicubic", output.0, output.1));
    }
    args.extend(h264_args(s));
    args.extend(["-bsf:v".into(), last_frame_duration(end_ms, s.min_frame_gap_ms())]);
    for (k, v) in [
        ("-colorspace", "bt709"),
        ("-color_primaries", "bt709"),
        ("-color_trc", "bt709"),
        ("-color_range", "tv"),
    ] {
        args.extend([k.to_string(), v.to_string()]);
    }
    args.extend(["-f".into(), "mp4".into(), "-y".into(), path.display().to_string()]);
    args
}

/// The bitstream filter that gives the last frame its duration.
///
/// An MP4 sample lasts until the next one; the last sample lasts its
/// packet's duration, and the track (and so the video) ends there. ffmpeg
/// 5.1 does not carry a Matroska `BlockDuration` through the encoder (it
/// caps the last duration at its own frame-rate guess: 100 ms here), so the
/// duration is set on the encoded packets instead, in the 1 ms time base of
/// the pipe: `end - pts`, which only matters for the last packet (the
/// others' durations come from the next timestamp). A last frame at or
/// after `end` (a change at the very end) lasts one frame gap, but never
/// past `end + gap`: the video lasts the session within one frame.
pub fn last_frame_duration(end_ms: i64, gap_ms: i64) -> String {
    let (e, g) = (end_ms.max(0), gap_ms.max(1));
    format!("setts=duration=max(1\\,max({e}-PTS\\,min({g}\\,{e}+{g}-PTS)))")
}

/// H.264 settings shared by both engines: yuv420p High profile, CRF, and a
/// keyframe policy for variable-frame-rate screen video: at most
/// `keyframe_interval` frames from one keyframe to the next, counted in
/// frames (the cost of a seek is the frames decoded since the keyframe; an
/// idle minute holds almost none), x264's scene-cut detection still starting
/// a keyframe where the screen changes wholesale, and no B-frames (decode
/// order is presentation order, so timestamps and the track's duration stay
/// exact; it also saves x264 CPU for ~5 % more bytes). `moov` first, so
/// browsers can play while downloading. Adaptive quantisation is off: it
/// spends bits on flat wallpaper and window backgrounds, and on the samples
/// it made files 40 % larger for 0.9 dB PSNR that nobody can see.
pub fn h264_args(s: &EncodeSettings) -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-preset",
        &s.preset,
        "-tune",
        "stillimage",
        "-crf",
        &s.crf.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-profile:v",
        "high",
        "-g",
        &s.keyframe_interval.to_string(),
        "-bf",
        "0",
        "-x264-params",
        "aq-mode=0",
        "-video_track_timescale",
        "1000",
        "-movflags",
        "+faststart",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Spawns ffmpeg with stderr collected on a thread.
/// ffmpeg runs at a lower CPU priority, so a busy worker still answers its
/// health checks and accepts uploads promptly.
pub const FFMPEG_NICENESS: i32 = 10;

pub fn spawn(program: &Path, args: &[String], stdin: Stdio) -> Result<(Child, StderrLog), EncodeError> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    command.args(args).stdin(stdin).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: setpriority is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, FFMPEG_NICENESS);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => EncodeError::Missing(program.to_path_buf()),
        _ => EncodeError::Spawn { path: program.to_path_buf(), source: e },
    })?;
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok((child, StderrLog::collect(stderr)))
}

/// ffmpeg's stderr, read to the end on its own thread (a full pipe would
/// otherwise stall ffmpeg).
pub struct StderrLog(JoinHandle<String>);

impl StderrLog {
    fn collect(mut stderr: impl Read + Send + 'static) -> StderrLog {
        StderrLog(std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > MAX_STDERR * 2 {
                    kept.drain(..kept.len() - MAX_STDERR);
                }
            }
            if kept.len() > MAX_STDERR {
                kept.drain(..kept.len() - MAX_STDERR);
            }
            String::from_utf8_lossy(&kept).into_owned()
        }))
    }

    pub fn finish(self) -> String {
        self.0.join().unwrap_or_default()
    }
}

/// Waits for `child` as `Child::wait` does, and gives the CPU time (user +
/// system) it used: `wait4` reports exactly this child's, which
/// `getrusage(RUSAGE_CHILDREN)` cannot while several conversions run.
fn wait_with_cpu(child: Child) -> io::Result<(ExitStatus, Duration)> {
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        // SAFETY: wait4 only writes into the status and the zeroed struct.
        let (reaped, usage) = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            (libc::wait4(pid, &mut status, 0, &mut usage), usage)
        };
        if reaped == pid {
            let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
            return Ok((ExitStatus::from_raw(status), time(usage.ru_utime) + time(usage.ru_stime)));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits for ffmpeg; a non-zero exit becomes an error carrying its stderr.
pub fn wait(mut child: Child, log: StderrLog) -> Result<String, EncodeError> {
    let status = child.wait().map_err(EncodeError::Pipe)?;
    exited(status, log)
}

fn exited(status: std::process::ExitStatus, log: StderrLog) -> Result<String, EncodeError> {
    let stderr = log.finish();
    if status.success() {
        Ok(stderr)
    } else {
        Err(EncodeError::Failed { status: status.to_string(), tail: tail(&stderr) })
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(5);
    match lines[start..].join(" | ") {
        s if s.is_empty() => "no message".into(),
        s => s,
    }
}

/// A running ffmpeg that is fed raw frames.
pub struct FrameEncoder {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    log: StderrLog,
    watchdog: Watchdog,
    stall_limit: Option<std::time::Duration>,
}

impl FrameEncoder {
    pub fn start(
        settings: &EncodeSettings,
        input: (u32, u32),
        output: (u32, u32),
        end_ms: i64,
        path: &Path,
    ) -> Result<FrameEncoder, EncodeError> {
        let args = encode_args(settings, input, output, end_ms, path);
        tracing::debug!(ffmpeg = %settings.ffmpeg.display(), args = %args.join(" "), "starting ffmpeg");
        let (mut child, log) = spawn(&settings.ffmpeg, &args, Stdio::piped())?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let watchdog = Watchdog::start(child.id(), settings.stall_timeout);
        let mut encoder = FrameEncoder {
            child,
            stdin: BufWriter::with_capacity(1 << 20, stdin),
            log,
            watchdog,
            stall_limit: settings.stall_timeout,
        };
        if let Err(e) = mkv::write_header(&mut encoder.stdin, input.0, input.1, b"I420") {
            return Err(encoder.fail(e));
        }
        Ok(encoder)
    }

    /// Writes one I420 frame shown from `ms` on.
    pub fn write_frame(&mut self, ms: u64, i420: &[u8]) -> Result<(), io::Error> {
        mkv::write_frame(&mut self.stdin, ms, i420)?;
        self.watchdog.progress();
        Ok(())
    }

    /// Closes stdin and waits; returns ffmpeg's stderr and CPU time.
    pub fn finish(mut self) -> Result<(String, Duration), EncodeError> {
        if let Err(e) = self.stdin.flush() {
            return Err(self.fail(e));
        }
        drop(self.stdin);
        self.watchdog.progress();
        let mut watchdog = self.watchdog;
        let waited = wait_with_cpu(self.child).map_err(EncodeError::Pipe);
        let stalled = watchdog.stop();
        match (stalled, self.stall_limit) {
            (true, Some(limit)) => Err(EncodeError::Stalled(limit.as_secs())),
            _ => {
                let (status, cpu) = waited?;
                exited(status, self.log).map(|log| (log, cpu))
            }
        }
    }

    /// After a write error: the real cause is usually ffmpeg having exited.
    pub fn fail(mut self, e: io::Error) -> EncodeError {
        let stalled = self.watchdog.stop();
        let _ = self.child.kill();
        match (stalled, self.stall_limit, wait(self.child, self.log)) {
            (true, Some(limit), _) => EncodeError::Stalled(limit.as_secs()),
            (_, _, Err(failed)) => failed,
            (_, _, Ok(_)) => EncodeError::Pipe(e),
        }
    }

    /// Stops ffmpeg without waiting for a result (on errors elsewhere).
    pub fn abort(mut self) {
        self.watchdog.stop();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

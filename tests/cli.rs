//! End to end through the real binary and the real ffmpeg.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Rec, bin, packets, png_rgb, probe, psnr, sample};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(bin());
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// (first sync, last sync-or-mouse) of a recording, read independently of
/// the library's time line.
fn span_ms(path: &Path) -> i64 {
    let data = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&data);
    let mut first = None;
    let mut last = i64::MIN;
    for ins in text.split(';') {
        let fields: Vec<&str> = ins.split(',').map(|f| f.split_once('.').map_or("", |x| x.1)).collect();
        let ts = match fields.first() {
            Some(&"sync") => fields.get(1).and_then(|v| v.parse::<i64>().ok()),
            Some(&"mouse") if fields.len() == 5 => fields[4].parse::<i64>().ok(),
            _ => None,
        };
        if let Some(t) = ts {
            if fields[0] == "sync" && first.is_none() {
                first = Some(t);
            }
            last = last.max(t);
        }
    }
    last - first.expect("a sync")
}

fn convert_ok(inputs: &[PathBuf], out: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(bin());
    cmd.arg("convert").args(inputs).arg("-o").arg(out).args(extra);
    let result = cmd.output().unwrap();
    assert!(result.status.success(), "convert failed: {}", text(&result));
    assert!(!video_worker::convert::part_path(out).exists(), "no .part file may remain");
    text(&result)
}

/// Shortest gap between frames at the default 25 fps, in ms.
const GAP_MS: i64 = 40;
/// Most frames from one keyframe to the next (the default `-g`).
const KEYFRAME_INTERVAL: usize = 250;

fn ffprobe_value(mp4: &Path, entry: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", entry, "-of", "csv=p=0"])
        .arg(mp4)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| panic!("ffprobe {entry} of {}: {text:?}", mp4.display()))
}

/// Whether decoding the whole file is silent (no "non monotonically
/// increasing dts", no broken packets).
fn assert_decodes_cleanly(mp4: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mp4)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = text(&out);
    assert!(said.trim().is_empty(), "{}: ffmpeg says: {said}", mp4.display());
}

/// The video stream and the container both last the session (within one
/// frame, and never less), no two frames are closer than the gap, and
/// the file decodes without a word.
fn assert_exact_timing(mp4: &Path, span: i64) {
    let want = span.max(GAP_MS) as f64 / 1000.0;
    for entry in ["stream=duration", "format=duration"] {
        let got = ffprobe_value(mp4, entry);
        assert!(
            got >= want - 0.0015 && got <= want + GAP_MS as f64 / 1000.0 + 0.0015,
            "{}: {entry} {got} s, session {want} s",
            mp4.display()
        );
    }
    let pk = packets(mp4);
    for pair in pk.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= GAP_MS, "{}: frames at {pair:?}", mp4.display());
    }
    assert_decodes_cleanly(mp4);
}

/// The seek cost: at most `KEYFRAME_INTERVAL` frames from a keyframe to the
/// next, i.e. a seek decodes fewer than that many frames.
fn assert_seek_cost(mp4: &Path) {
    let pk = packets(mp4);
    assert!(pk[0].1, "the first frame is a keyframe");
    let mut since_key = 0;
    let mut worst = 0;
    for &(_, key) in &pk {
        since_key = if key { 1 } else { since_key + 1 };
        worst = worst.max(since_key);
    }
    assert!(worst <= KEYFRAME_INTERVAL, "{}: {worst} frames in one keyframe interval", mp4.display());
}

fn assert_playable(mp4: &Path, size: (u32, u32), span: i64) {
    let (codec, pix_fmt, profile, w, h, _) = probe(mp4);
    assert_eq!((codec.as_str(), pix_fmt.as_str(), profile.as_str()), ("h264", "yuv420p", "High"));
    assert_eq!((w, h), size);
    assert_exact_timing(mp4, span);
}

#[test]
fn every_sample_converts_to_a_playable_mp4_of_the_session() {
    let dir = tempfile::tempdir().unwrap();
    for name in [common::RDP, common::VNC] {
        let input = sample(name);
        let out = dir.path().join(format!("{name}.mp4"));
        let log = convert_ok(std::slice::from_ref(&input), &out, &[]);
        assert!(log.contains("frames") && log.contains("bytes out"), "summary line: {log}");
        assert_playable(&out, (1280, 800), span_ms(&input));
        assert_seek_cost(&out);
        // Idle time costs nothing: far fewer frames than 25 per second.
        let pk = packets(&out);
        assert!((pk.len() as i64) < span_ms(&input) / 40 / 2, "{name}: {} frames", pk.len());
        // Every frame of the stream is a change: the summary counts them all.
        assert!(log.contains(&format!(" {} frames,", pk.len())), "{name}: {} packets; {log}", pk.len());
        // Where the CPU went: every stage named; images were decoded and
        // x264 did real work in ffmpeg (its own process, measured by wait4).
        let cpu = cpu_stages(&log);
        assert!(cpu["parse"] > 0.0 && cpu["decode"] > 0.0 && cpu["compose"] > 0.0, "{name}: {log}");
        assert!(cpu["ffmpeg"] > 0.2, "{name}: x264 cannot encode a session for nothing: {log}");
    }
}

/// The seconds of each stage on `convert`'s `cpu:` line.
fn cpu_stages(log: &str) -> std::collections::HashMap<String, f64> {
    let line =
        log.lines().find_map(|l| l.strip_prefix("cpu: ")).unwrap_or_else(|| panic!("no cpu line: {log}"));
    let stages: std::collections::HashMap<String, f64> = line
        .split(", ")
        .map(|part| {
            let (name, value) = part.split_once(' ').unwrap_or_else(|| panic!("stage {part:?}"));
            (
                name.to_string(),
                value.trim_end_matches(" s").parse().unwrap_or_else(|_| panic!("stage {part:?}")),
            )
        })
        .collect();
    for name in ["parse", "decode", "draw", "compose", "i420", "pipe", "ffmpeg"] {
        assert!(stages.contains_key(name), "no {name} in {line}");
    }
    stages
}

/// The picture the video shows at `at_ms` (the last frame at or before
/// it), decoded by ffmpeg as a player would: BT.709, limited range.
fn video_frame_at(mp4: &Path, at_ms: i64, png: &Path) {
    let select = format!(
        "select=lte(t\\,{}),scale=in_color_matrix=bt709:in_range=tv,format=rgb24",
        at_ms as f64 / 1000.0
    );
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mp4)
        .args(["-vf", &select, "-fps_mode", "passthrough", "-update", "1", "-y"])
        .arg(png)
        .output()
        .unwrap();
    assert!(
        out.status.success() && png.is_file(),
        "decoding {} at {at_ms} ms: {}",
        mp4.display(),
        text(&out)
    );
}

#[test]
fn the_mp4s_own_frames_match_the_reference_player() {
    // A size win that costs picture quality must fail here.
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let dir = tempfile::tempdir().unwrap();
    for (name, sub) in [(common::RDP, "rdp"), (common::VNC, "vnc")] {
        let mp4 = dir.path().join(format!("{sub}.mp4"));
        convert_ok(&[sample(name)], &mp4, &[]);
        for entry in std::fs::read_dir(refs.join(sub)).unwrap() {
            let reference = entry.unwrap().path();
            let at: i64 = reference.file_stem().unwrap().to_string_lossy().parse().unwrap();
            let frame = dir.path().join(format!("{sub}-{at}.png"));
            video_frame_at(&mp4, at, &frame);
            let (w, h, ours) = png_rgb(&frame);
            let (rw, rh, theirs) = png_rgb(&reference);
            assert_eq!((w, h), (rw, rh));
            let db = psnr(&ours, &theirs);
            assert!(db >= 37.0, "{sub}: the video at {at} ms vs the reference player: PSNR {db:.1} dB");
        }
    }
}

#[test]
fn sparse_recordings_last_their_session_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let frame = |rec: Rec, i: i32, t: i64| {
        rec.fill(0, i * 20 % 300, 10, 30, 30, [255, (i * 60 % 256) as u8, 0, 255]).sync(t)
    };
    let base = || Rec::new().size(0, 320, 240);
    let cases: Vec<(&str, Rec)> = vec![
        // Four frames over 2.36 s, the last two 12 ms apart at the very end.
        (
            "last-right-before-end",
            [0, 100, 2348, 2360].iter().enumerate().fold(base(), |r, (i, &t)| frame(r, i as i32, 1000 + t)),
        ),
        // Long gaps; the pointer moves a minute after the last frame.
        ("long-gaps", frame(frame(frame(base(), 0, 5_000), 1, 35_000), 2, 35_500).mouse(10, 10, 95_000)),
        // Times that are no multiple of anything: on the 40 ms grid, never early.
        (
            "odd-times",
            [0, 517, 2003, 2047, 4999]
                .iter()
                .enumerate()
                .fold(base(), |r, (i, &t)| frame(r, i as i32, 777 + t)),
        ),
        // One frame only.
        ("single", frame(base(), 0, 1000).sync(1900)),
    ];
    for (name, rec) in cases {
        let input = rec.write(dir.path(), &format!("{name}.guac"));
        let out = dir.path().join(format!("{name}.mp4"));
        convert_ok(std::slice::from_ref(&input), &out, &[]);
        assert_playable(&out, (320, 240), span_ms(&input));
        assert_seek_cost(&out);
    }
    // ffmpeg keeps the frames' times (it rounded them to its frame-rate guess).
    let pts: Vec<i64> = packets(&dir.path().join("odd-times.mp4")).iter().map(|p| p.0).collect();
    assert_eq!(pts, [0, 520, 2040, 2080, 5000]);
    let pts: Vec<i64> = packets(&dir.path().join("last-right-before-end.mp4")).iter().map(|p| p.0).collect();
    assert_eq!(pts, [0, 120, 2360, 2400], "the last change waits for the gap");
}

#[test]
fn a_tiny_recording_converts_with_every_quality() {
    let dir = tempfile::tempdir().unwrap();
    let input = Rec::new().size(0, 64, 48).fill(0, 0, 0, 20, 20, [0, 0, 255, 255]).sync(10).sync(2010);
    let input = input.write(dir.path(), "tiny.guac");
    let mut sizes = Vec::new();
    for quality in ["low", "normal", "high"] {
        let out = dir.path().join(format!("{quality}.mp4"));
        convert_ok(std::slice::from_ref(&input), &out, &["--quality", quality]);
        assert_exact_timing(&out, 2000);
        sizes.push(std::fs::metadata(&out).unwrap().len());
    }
    assert!(sizes[0] <= sizes[2], "low is not larger than high: {sizes:?}");
    let result = run(&[&"convert", &input, &"-o", &dir.path().join("x.mp4"), &"--quality", &"best"]);
    assert!(!result.status.success() && text(&result).contains("best"), "{}", text(&result));
}

#[test]
fn snapshots_match_the_reference_player_images() {
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let dir = tempfile::tempdir().unwrap();
    for (name, sub) in [(common::RDP, "rdp"), (common::VNC, "vnc")] {
        for entry in std::fs::read_dir(refs.join(sub)).unwrap() {
            let reference = entry.unwrap().path();
            let at = reference.file_stem().unwrap().to_string_lossy().to_string();
            let png = dir.path().join(format!("{sub}-{at}.png"));
            let out = run(&[&"snapshot", &sample(name), &"--at", &at, &"-o", &png]);
            assert!(out.status.success(), "{}", text(&out));
            let (w, h, ours) = png_rgb(&png);
            let (rw, rh, theirs) = png_rgb(&reference);
            assert_eq!((w, h), (rw, rh));
            let db = psnr(&ours, &theirs);
            assert!(db >= 50.0, "{sub} at {at} ms: PSNR {db:.1} dB");
        }
    }
}

#[test]
fn video_frames_show_the_snapshot_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(common::VNC);
    let mp4 = dir.path().join("v.mp4");
    convert_ok(std::slice::from_ref(&input), &mp4, &[]);
    for at in [12573, 126694] {
        let frame = dir.path().join(format!("frame-{at}.png"));
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-ss", &format!("{}", at as f64 / 1000.0), "-i"])
            .arg(&mp4)
            .args(["-frames:v", "1", "-y"])
            .arg(&frame)
            .status()
            .unwrap();
        assert!(ok.success());
        let snap = dir.path().join(format!("snap-{at}.png"));
        assert!(run(&[&"snapshot", &input, &"--at", &at.to_string(), &"-o", &snap]).status.success());
        let db = psnr(&png_rgb(&frame).2, &png_rgb(&snap).2);
        assert!(db >= 35.0, "video at {at} ms vs snapshot: PSNR {db:.1} dB");
    }
}

#[test]
fn gzip_and_multi_part_inputs_convert_as_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(common::RDP);
    let data = std::fs::read(&input).unwrap();
    // Split at an instruction boundary near the middle.
    let cut = data.len() / 2 + data[data.len() / 2..].iter().position(|&b| b == b';').unwrap() + 1;
    let part1 = dir.path().join("part1.guac.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data[..cut]).unwrap();
    std::fs::write(&part1, gz.finish().unwrap()).unwrap();
    let part2 = dir.path().join("part2.bin"); // a name that says nothing
    std::fs::write(&part2, &data[cut..]).unwrap();
    let out = dir.path().join("joined.mp4");
    convert_ok(&[part1, part2], &out, &[]);
    assert_playable(&out, (1280, 800), span_ms(&input));
}

#[test]
fn max_size_scales_down_keeping_the_aspect() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(common::RDP);
    let out = dir.path().join("small.mp4");
    convert_ok(
        std::slice::from_ref(&input),
        &out,
        &["--max-size", "640x480", "--fps", "10", "--crf", "28", "--preset", "faster"],
    );
    assert_playable(&out, (640, 400), span_ms(&input));
    let pk = packets(&out);
    assert!(pk.windows(2).all(|p| p[1].0 - p[0].0 >= 100), "--fps 10 caps the rate");
}

#[test]
fn damaged_recordings_still_give_a_valid_video_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(sample(common::RDP)).unwrap();
    // Cut mid-instruction at 60 %.
    let truncated = dir.path().join("truncated.guac");
    std::fs::write(&truncated, &data[..data.len() * 3 / 5]).unwrap();
    let out = dir.path().join("t.mp4");
    let log = convert_ok(std::slice::from_ref(&truncated), &out, &[]);
    assert!(log.contains("truncated") && log.contains("truncated.guac"), "{log}");
    let (codec, ..) = probe(&out);
    assert_eq!(codec, "h264");
    // Timestamps going backwards and a recording without any sync.
    let rec = Rec::new().size(0, 100, 60).fill(0, 0, 0, 50, 50, [255, 0, 0, 255]);
    let nosync = rec.write(dir.path(), "nosync.guac");
    let log = convert_ok(&[nosync], &dir.path().join("n.mp4"), &[]);
    assert!(log.contains("no time line"), "{log}");
    assert_eq!(probe(&dir.path().join("n.mp4")).3, 100);
}

#[test]
fn unusable_inputs_fail_cleanly_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.guac");
    std::fs::write(&empty, b"").unwrap();
    let junk = dir.path().join("junk.guac.gz"); // not gzip, not a recording
    std::fs::write(&junk, b"this is not a recording at all").unwrap();
    for (input, why) in [(&empty, "empty"), (&junk, "not a Guacamole recording")] {
        let out = dir.path().join("x.mp4");
        let result = run(&[&"convert", input, &"-o", &out]);
        assert!(!result.status.success());
        let msg = text(&result);
        assert!(msg.contains(input.file_name().unwrap().to_str().unwrap()) && msg.contains(why), "{msg}");
        assert!(!out.exists() && !video_worker::convert::part_path(&out).exists());
    }
}

#[test]
fn a_missing_or_failing_ffmpeg_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(common::RDP);
    let out = dir.path().join("x.mp4");
    let result = run(&[&"convert", &input, &"-o", &out, &"--ffmpeg", &"/nonexistent/ffmpeg"]);
    assert!(!result.status.success());
    assert!(text(&result).contains("ffmpeg not found"), "{}", text(&result));
    assert!(!out.exists() && !video_worker::convert::part_path(&out).exists());
    // An ffmpeg that dies after reading a little: its message is reported.
    let fake = dir.path().join("dying-ffmpeg");
    std::fs::write(&fake, "#!/bin/sh\nhead -c 100000 >/dev/null\necho 'encoder exploded' >&2\nexit 3\n")
        .unwrap();
    make_executable(&fake);
    let result = run(&[&"convert", &input, &"-o", &out, &"--ffmpeg", &fake]);
    assert!(!result.status.success());
    assert!(text(&result).contains("encoder exploded"), "{}", text(&result));
    assert!(!out.exists() && !video_worker::convert::part_path(&out).exists());
}

#[test]
fn progress_is_reported_as_plain_lines_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let result = run(&[&"convert", &sample(common::RDP), &"-o", &dir.path().join("p.mp4")]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.lines().filter(|l| l.starts_with("progress:")).count() >= 5, "{stderr}");
    assert!(stderr.contains("100%"), "{stderr}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in for guacenc: writes a real MPEG-4 Part 2 `.m4v` of the asked
/// size beside its input, as guacenc does.
fn fake_guacenc(dir: &Path, writes_video: bool) -> PathBuf {
    let path = dir.join(if writes_video { "guacenc" } else { "guacenc-lies" });
    let body = if writes_video {
        "size=$2; input=$4\nexec ffmpeg -v error -f lavfi -i testsrc=size=$size:rate=25:duration=3 -c:v mpeg4 -f ipod -y \"$input.m4v\"\n"
    } else {
        "echo 'Encoding failed' >&2\nexit 0\n"
    };
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    make_executable(&path);
    path
}

#[test]
fn guacenc_engine_reencodes_its_m4v_to_the_same_h264() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(common::RDP);
    let out = dir.path().join("g.mp4");
    let guacenc = fake_guacenc(dir.path(), true);
    let guacenc_arg = guacenc.to_str().unwrap();
    convert_ok(
        std::slice::from_ref(&input),
        &out,
        &["--engine", "guacenc", "--guacenc", guacenc_arg, "--max-size", "640x480"],
    );
    let (codec, pix_fmt, profile, w, h, _) = probe(&out);
    assert_eq!(
        (codec.as_str(), pix_fmt.as_str(), profile.as_str(), w, h),
        ("h264", "yuv420p", "High", 640, 400)
    );
    // guacenc says 0 but wrote nothing: that is a failure.
    let liar = fake_guacenc(dir.path(), false);
    let result = run(&[
        &"convert",
        &input,
        &"-o",
        &dir.path().join("l.mp4"),
        &"--engine",
        &"guacenc",
        &"--guacenc",
        &liar,
    ]);
    assert!(!result.status.success());
    assert!(text(&result).contains("no video written"), "{}", text(&result));
    assert!(!dir.path().join("l.mp4.guacenc").exists(), "the work directory is removed");
}

#[test]
fn logs_off_a_terminal_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tiny.guac");
    let rec = Rec::new().size(0, 64, 48).fill(0, 0, 0, 64, 48, [0, 90, 200, 255]).sync(1000).sync(1500);
    std::fs::write(&input, rec.bytes()).unwrap();
    let out = dir.path().join("tiny.mp4");
    // -vv: debug lines (ffmpeg's start) reach stderr, here a pipe.
    let result =
        Command::new(bin()).args(["-vv", "convert"]).arg(&input).arg("-o").arg(&out).output().unwrap();
    assert!(result.status.success(), "{}", text(&result));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("starting ffmpeg"), "the debug log is there to check: {stderr}");
    assert!(!stderr.contains("\x1b["), "no ANSI codes in a pipe: {stderr:?}");
}

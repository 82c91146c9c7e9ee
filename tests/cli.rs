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

fn assert_playable(mp4: &Path, size: (u32, u32), span: i64) {
    let (codec, pix_fmt, profile, w, h, duration) = probe(mp4);
    assert_eq!((codec.as_str(), pix_fmt.as_str(), profile.as_str()), ("h264", "yuv420p", "High"));
    assert_eq!((w, h), size);
    let want = span as f64 / 1000.0;
    assert!((duration - want).abs() <= want * 0.01, "duration {duration} s, session {want} s");
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
        let pk = packets(&out);
        // A keyframe at least every 5 s of session time.
        let mut last_key = i64::MIN;
        for &(pts, key) in &pk {
            if key {
                last_key = pts;
            }
            assert!(pts - last_key <= 5000, "{name}: frame at {pts} ms, last keyframe at {last_key} ms");
        }
        // At most 25 frames a second (the final repeat may be closer).
        for pair in pk[..pk.len() - 1].windows(2) {
            assert!(pair[1].0 - pair[0].0 >= 40, "{name}: frames at {pair:?}");
        }
        // Idle time costs nothing: far fewer frames than 25 per second.
        assert!((pk.len() as i64) < span_ms(&input) / 40 / 2, "{name}: {} frames", pk.len());
    }
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
    assert!(pk[..pk.len() - 1].windows(2).all(|p| p[1].0 - p[0].0 >= 100), "--fps 10 caps the rate");
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

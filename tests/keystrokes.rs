//! The keystroke track: what was typed, named as guacamole-common-js 1.6's
//! `KeyEventInterpreter` names it (run as the oracle in headless Chromium,
//! tests/conformance/keys.mjs), batched as Guacamole's player shows it,
//! written as WebVTT beside the MP4 and, when asked, as a `mov_text`
//! subtitle track inside it; and the thumbnail strip beside it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Rec, bin, sample};

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Whether the 1.6 oracle can run; panics if it must (VW_REQUIRE_CONFORMANCE=1) and cannot.
fn oracle_available() -> bool {
    common::browser_tools("conformance", "@glokon/guacamole-common-js")
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?} printed no JSON ({e})"))
}

fn ours(recording: &Path, format: &str) -> String {
    let out = Command::new(bin()).args(["keys", "--format", format]).arg(recording).output().unwrap();
    assert!(out.status.success(), "keys failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Keys typed in a crafted session: a command, a chord, named keys,
/// Latin-1 and Unicode keysyms, an unknown keysym, markup.
fn typed_session() -> Rec {
    fn key(rec: Rec, t: &mut i64, keysym: i64, pressed: u8) -> Rec {
        *t += 40;
        rec.op("key", &[&keysym, &pressed, &*t])
    }
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [30, 30, 30, 255]).sync(10_000);
    let mut t = 11_000;
    for c in "ls -la".chars() {
        rec = key(rec, &mut t, c as i64, 1);
        rec = key(rec, &mut t, c as i64, 0);
    }
    for k in [0xFF0D, 0xFF09, 0xFF08, 0xE9, 0x0100_4E2D, 0xFE50] {
        rec = key(rec, &mut t, k, 1);
        rec = key(rec, &mut t, k, 0);
    }
    for (k, pressed) in [(0xFFE3, 1), (0x63, 1), (0x63, 0), (0xFFE3, 0)] {
        rec = key(rec, &mut t, k, pressed);
    }
    rec = rec.sync(12_000);
    // Six seconds later: a new batch, with markup typed.
    t = 18_000;
    for c in "<script>".chars() {
        rec = key(rec, &mut t, c as i64, 1);
        rec = key(rec, &mut t, c as i64, 0);
    }
    rec.sync(20_000)
}

#[test]
fn key_events_agree_with_guacamole_common_js_1_6() {
    if !oracle_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let crafted = typed_session().write(dir.path(), "typed.guac");
    // keys-crafted.guac: a key stamped before the first sync, chords, keypad and Unicode keysyms.
    let fixture = harness_dir().join("keys-crafted.guac");
    for recording in [sample(common::RDP), sample(common::VNC), crafted, fixture] {
        let theirs = run_json(
            Command::new("node").arg(harness_dir().join("keys.mjs")).arg("--recording").arg(&recording),
        );
        let mine: serde_json::Value = serde_json::from_str(&ours(&recording, "events")).unwrap();
        let (theirs, mine) = (theirs.as_array().unwrap(), mine.as_array().unwrap());
        assert!(!theirs.is_empty(), "{}: the oracle found no keys", recording.display());
        assert_eq!(mine.len(), theirs.len(), "{}: number of key events", recording.display());
        for (i, (m, t)) in mine.iter().zip(theirs).enumerate() {
            // Input stamped before the first sync is pinned to the video's start.
            let expected_t = t["timestamp"].as_i64().unwrap().max(0);
            assert_eq!(
                m["timestamp"].as_i64(),
                Some(expected_t),
                "{} event {i}: {m} vs {t}",
                recording.display()
            );
            for field in ["keysym", "name", "value", "pressed"] {
                assert_eq!(m[field], t[field], "{} event {i} {field}: {m} vs {t}", recording.display());
            }
        }
        eprintln!("{}: {} key events agree", recording.display(), mine.len());
    }
}

#[test]
fn typed_text_is_batched_with_named_keys_and_chords() {
    let dir = tempfile::tempdir().unwrap();
    let crafted = typed_session().write(dir.path(), "typed.guac");
    let text = ours(&crafted, "text");
    assert_eq!(
        text,
        "[00:00:01.040] ls -la<Return>\n               <Tab><Backspace>é中<0xfe50><Ctrl+c>\n[00:00:08.040] <script>\n",
    );
    let vtt = ours(&crafted, "vtt");
    assert!(vtt.starts_with("WEBVTT\n\n00:00:01.040 --> "), "{vtt}");
    assert!(vtt.contains("\n&lt;script&gt;\n"), "markup is escaped in cues: {vtt}");
    assert!(!vtt.contains("<script>"), "{vtt}");
}

#[test]
fn the_real_samples_show_what_was_typed() {
    // The VNC sample's session types shell commands in an xterm.
    let text = ours(&sample(common::VNC), "text");
    assert!(text.lines().count() >= 3, "{text}");
    assert!(text.contains("<Return>"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ours(&sample(common::VNC), "json")).unwrap();
    let batches = json.as_array().unwrap();
    let starts: Vec<i64> = batches.iter().map(|b| b["start_ms"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] >= 5000), "batches are 5 s apart: {starts:?}");
}

/// (start ms, end ms, text) of each cue of a WebVTT file.
fn cues(vtt: &str) -> Vec<(i64, i64, String)> {
    let ms = |s: &str| {
        // HH:MM:SS.mmm, or MM:SS.mmm (ffmpeg writes that).
        let secs = s.trim().split(':').fold(0.0, |acc, x| acc * 60.0 + x.parse::<f64>().unwrap());
        (secs * 1000.0).round() as i64
    };
    vtt.split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines();
            let timing = lines.find(|l| l.contains("-->"))?;
            let (a, b) = timing.split_once("-->")?;
            let b = b.split_whitespace().next()?;
            Some((ms(a), ms(b), lines.collect::<Vec<_>>().join("\n")))
        })
        .collect()
}

#[test]
fn convert_writes_the_track_embeds_it_and_makes_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vnc.mp4");
    let status = Command::new(bin())
        .args(["convert", "--keystrokes", "embed", "--thumbnails", "--thumbnail-interval", "5"])
        .arg(sample(common::VNC))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let sidecar = std::fs::read_to_string(dir.path().join("vnc.keys.vtt")).unwrap();
    let typed = cues(&sidecar);
    assert!(typed.len() >= 3, "{sidecar}");
    let (.., duration) = common::probe(&out);
    // The subtitle stream inside the MP4 holds the same cues at the same times.
    let streams = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let streams = String::from_utf8_lossy(&streams.stdout).to_string();
    assert!(streams.contains("h264,video") && streams.contains("mov_text,subtitle"), "{streams}");
    let extracted = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-map", "0:s:0", "-f", "webvtt", "-"])
        .output()
        .unwrap();
    assert!(extracted.status.success(), "{}", String::from_utf8_lossy(&extracted.stderr));
    let inside = cues(&String::from_utf8_lossy(&extracted.stdout));
    assert_eq!(inside.len(), typed.len(), "cues inside the MP4");
    for (a, b) in inside.iter().zip(&typed) {
        assert!((a.0 - b.0).abs() <= 1 && (a.1 - b.1).abs() <= 1, "{a:?} vs {b:?}");
        let plain = |s: &str| s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        assert_eq!(plain(&a.2), plain(&b.2));
    }
    assert!(typed.iter().all(|c| c.1 as f64 <= duration * 1000.0 + 1.0), "cues end within the video");
    // Thumbnails: one picture per 5 s of change at most, covering the video.
    let track = std::fs::read_to_string(dir.path().join("vnc.thumbs.vtt")).unwrap();
    let thumbs = cues(&track);
    assert!(thumbs.len() >= 5 && thumbs.len() as f64 <= duration / 5.0 + 1.0, "{} thumbnails", thumbs.len());
    assert_eq!(thumbs[0].0, 0);
    assert!(thumbs.windows(2).all(|w| w[0].1 == w[1].0 && w[1].0 - w[0].0 >= 5000), "{track}");
    assert!((thumbs.last().unwrap().1 as f64 - duration * 1000.0).abs() < 100.0, "{track}");
    let sprite = image::open(dir.path().join("vnc.thumbs.jpg")).unwrap();
    let rows = thumbs.len().div_ceil(10) as u32;
    assert_eq!((sprite.width(), sprite.height()), (thumbs.len().min(10) as u32 * 160, rows * 100));
    for (i, (_, _, text)) in thumbs.iter().enumerate() {
        let (x, y) = ((i % 10) * 160, (i / 10) * 100);
        assert_eq!(text, &format!("vnc.thumbs.jpg#xywh={x},{y},160,100"));
    }
}

#[test]
fn without_the_flags_nothing_is_written_beside_the_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rdp.mp4");
    let status =
        Command::new(bin()).arg("convert").arg(sample(common::RDP)).arg("-o").arg(&out).status().unwrap();
    assert!(status.success());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["rdp.mp4"]);
}

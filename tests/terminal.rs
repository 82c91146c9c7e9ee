//! Terminal recordings end to end: real recordings made by real recorders
//! (Debian asciinema 2.2 and util-linux script; `tests/terminal/record.sh`
//! made the fixtures, `shapes.py` their KoKo, v1, v3, guacd and `.tar`
//! shapes), checked against an independent emulator (the `vt100` crate),
//! against OCR (tesseract), against FreeType's hinted render (Pillow), and
//! through the real binary and ffmpeg (also with no system fonts at all).
//!
//! Tests that need tesseract or Pillow fail instead of skipping when
//! `VW_REQUIRE_TERMINAL_TOOLS` is set, and the one that needs root when
//! `VW_REQUIRE_ROOT` is (scripts/test.sh sets both).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use proptest::prelude::*;
use video_worker::playback::terminal::Source;
use video_worker::playback::{OpenOptions, PlaybackError, TerminalOptions, TerminalRecording, open_with};
use video_worker::snapshot::{snapshot, write_png};
use video_worker::terminal::asciicast::{CastEvents, Version, parse_header};
use video_worker::terminal::lines::Lines;
use video_worker::terminal::{EventKind, Item};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/terminal/fixtures").join(name)
}

fn open(paths: &[PathBuf]) -> Box<dyn video_worker::playback::Recording> {
    open_with(paths, None, &OpenOptions::default()).unwrap_or_else(|e| panic!("{paths:?}: {e}"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Moments to compare pictures at: a spread over the session.
fn moments(span: i64) -> Vec<i64> {
    (0..=12).map(|i| span * i / 12).collect()
}

#[test]
fn every_input_form_shows_the_same_pictures() {
    for session in ["colours", "fullscreen"] {
        let reference = open(&[fixture(&format!("{session}.cast"))]);
        let forms: Vec<Vec<PathBuf>> = vec![
            vec![fixture(&format!("{session}.koko.cast.gz"))],
            vec![fixture(&format!("{session}.koko-old.replay.gz"))],
            vec![fixture(&format!("{session}.v1.json"))],
            vec![fixture(&format!("{session}.v3.cast"))],
            vec![fixture(&format!("{session}.download.tar"))],
            vec![fixture(&format!("{session}.guacd.typescript"))],
            vec![
                fixture(&format!("{session}.guacd.typescript.timing")),
                fixture(&format!("{session}.guacd.typescript")),
            ],
        ];
        for form in forms {
            // KoKo's old JSON and typescripts carry no size: give the recorded one.
            let options = OpenOptions {
                terminal: TerminalOptions { size: Some((80, 24)), ..Default::default() },
                ..Default::default()
            };
            let other = open_with(&form, None, &options).unwrap_or_else(|e| panic!("{form:?}: {e}"));
            assert_eq!(other.screen(), reference.screen(), "{form:?}");
            assert!(
                (other.span_ms() - reference.span_ms()).abs() <= 2,
                "{form:?}: span {} vs {}",
                other.span_ms(),
                reference.span_ms()
            );
            for t in moments(reference.span_ms()) {
                let a = snapshot(&*reference, t).unwrap().picture;
                let b = snapshot(&*other, t).unwrap().picture;
                assert!(a == b, "{form:?} differs from {session}.cast at {t} ms");
            }
        }
    }
}

#[test]
fn the_script_typescript_plays_like_its_recording() {
    let ts = open(&[fixture("session.typescript"), fixture("session.typescript.timing")]);
    let cast = open(&[fixture("colours.cast")]);
    assert_eq!(ts.screen(), cast.screen());
    let a = snapshot(&*ts, ts.span_ms()).unwrap();
    let text = ocr_free_text(&a.picture);
    assert!(text > 0, "the typescript shows something");
    // The same session recorded twice differs in the ls times at most: compare the screens' text.
    let screens = |r: &TerminalRecording| {
        let mut last = Vec::new();
        r.replay_screens(&mut |_, _, s| last = s.text()).unwrap();
        last
    };
    let ts = TerminalRecording::open(
        Source::Typescript {
            data: fixture("session.typescript"),
            timing: fixture("session.typescript.timing"),
        },
        None,
        &TerminalOptions::default(),
    )
    .unwrap();
    let text = screens(&ts);
    assert!(text.iter().any(|l| l.contains("第一行 中文文本")), "{text:?}");
    assert!(text.iter().any(|l| l.starts_with("256-colour orange")), "{text:?}");
}

/// Non-background pixels: a cheap "something is drawn".
fn ocr_free_text(p: &video_worker::render::Surface) -> usize {
    let bg = p.pixels()[p.pixels().len() - 1];
    p.pixels().iter().filter(|&&v| v != bg).count()
}

/// The oracle: the same events in the vt100 crate, screen text compared
/// after every event.
#[test]
fn the_screen_agrees_with_an_independent_emulator() {
    let mut compared = 0usize;
    let mut agreed = 0usize;
    let mut mismatches = Vec::new();
    for name in ["colours.cast", "fullscreen.cast", "fullscreen.koko.cast.gz", "resize.cast"] {
        let recording = TerminalRecording::open(
            Source::Cast { path: fixture(name), version: Version::V2 },
            None,
            &TerminalOptions::default(),
        )
        .unwrap();
        let mut parser: Option<vt100::Parser> = None;
        recording
            .replay_screens(&mut |t, event, screen| {
                let (cols, rows) = screen.size();
                let nz = |v: usize| std::num::NonZeroU16::new(v as u16).unwrap();
                let p = parser.get_or_insert_with(|| vt100::Parser::new(nz(rows), nz(cols), 0));
                if p.screen().size() != (nz(rows), nz(cols)) {
                    p.screen_mut().set_size(nz(rows), nz(cols));
                }
                if let EventKind::Output(text) = &event.kind {
                    p.process(text.as_bytes());
                }
                let theirs: Vec<String> =
                    p.screen().rows(0, cols as u16).map(|r| r.trim_end().to_string()).collect();
                let ours = screen.text();
                compared += 1;
                if theirs == ours {
                    agreed += 1;
                } else if mismatches.len() < 3 {
                    mismatches.push(format!("{name} at {t} ms:\nours:   {ours:?}\ntheirs: {theirs:?}"));
                }
            })
            .unwrap();
    }
    eprintln!("oracle: {agreed} of {compared} moments agree with vt100");
    assert!(compared > 30, "too few moments compared: {compared}");
    assert_eq!(agreed, compared, "screens differ from vt100's:\n{}", mismatches.join("\n"));
}

/// Levenshtein similarity of two strings, 0..=1.
fn similarity(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / a.len().max(b.len()) as f64
}

fn tool_or_skip(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("VW_REQUIRE_TERMINAL_TOOLS").is_none(),
            "{tool} is required (VW_REQUIRE_TERMINAL_TOOLS) but missing"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// Whether tesseract has its Simplified Chinese model.
fn has_chinese_ocr() -> bool {
    let langs = Command::new("tesseract").arg("--list-langs").output().unwrap();
    String::from_utf8_lossy(&langs.stdout).lines().any(|l| l.trim() == "chi_sim")
}

/// The text tesseract reads in a picture (`--psm 6`: a block of lines).
fn ocr(png: &Path, lang: &str) -> String {
    let out = Command::new("tesseract").arg(png).arg("-").args(["--psm", "6", "-l", lang]).output().unwrap();
    assert!(out.status.success(), "tesseract: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The CJK ideographs of `expected` that OCR `read`, in order (the longest
/// common subsequence of the two texts' ideographs), and how many there are.
fn ideographs_found(expected: &str, read: &str) -> (usize, usize) {
    let ideographs =
        |s: &str| -> Vec<char> { s.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).collect() };
    let (a, b) = (ideographs(expected), ideographs(read));
    let mut prev = vec![0usize; b.len() + 1];
    for ca in &a {
        let mut cur = vec![0usize];
        for (j, cb) in b.iter().enumerate() {
            cur.push(if ca == cb { prev[j] + 1 } else { prev[j + 1].max(cur[j]) });
        }
        prev = cur;
    }
    (prev[b.len()], a.len())
}

/// Legibility: OCR of a snapshot against the emulator's own text.
/// Threshold: mean line similarity of the Latin lines >= 0.9, and most of
/// the Chinese characters found.
#[test]
fn a_snapshot_is_legible_to_ocr() {
    if !tool_or_skip("tesseract") {
        return;
    }
    let dir = tmp();
    let recording = TerminalRecording::open(
        Source::Cast { path: fixture("colours.cast"), version: Version::V2 },
        None,
        &TerminalOptions::default(),
    )
    .unwrap();
    let mut expected = Vec::new();
    recording.replay_screens(&mut |_, _, s| expected = s.text()).unwrap();
    let shot = snapshot(&recording, video_worker::playback::Recording::span_ms(&recording)).unwrap();
    let png = dir.path().join("shot.png");
    write_png(&shot.picture, &png).unwrap();
    let chinese = has_chinese_ocr();
    let lang = if chinese { "eng+chi_sim" } else { "eng" };
    let read = ocr(&png, lang);
    let read_lines: Vec<&str> = read.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let latin: Vec<&String> = expected.iter().filter(|l| !l.trim().is_empty() && l.is_ascii()).collect();
    let mut total = 0.0;
    for line in &latin {
        let best = read_lines.iter().map(|r| similarity(line.trim(), r)).fold(0.0, f64::max);
        total += best;
    }
    let score = total / latin.len() as f64;
    eprintln!("OCR: mean line similarity {score:.3} over {} lines ({lang})", latin.len());
    assert!(score >= 0.9, "OCR read:\n{read}\nexpected:\n{}", expected.join("\n"));
    if chinese {
        let cjk: Vec<char> = "第一行中文文本日本語".chars().collect();
        let found = cjk.iter().filter(|c| read.contains(**c)).count();
        eprintln!("OCR: {found} of {} CJK characters found", cjk.len());
        assert!(found * 10 >= cjk.len() * 6, "CJK OCR found {found} of {}: {read}", cjk.len());
    }
}

#[test]
fn cjk_glyphs_fill_two_cells_without_clipping() {
    let mut fonts = video_worker::terminal::font::Fonts::load(None).expect("the embedded fonts load");
    for px in [16.0, 11.0, 7.0] {
        fonts.set_px(px);
        let (cw, ch) = (fonts.cell_w as i32, fonts.cell_h as i32);
        for c in ['中', '文', 'か', '한', '語'] {
            let g = fonts.glyph(c, false, false, 2);
            assert!(g.w > 0, "{c} has a glyph at {px} px");
            assert!(
                g.x >= 0 && g.x + g.w as i32 <= 2 * cw,
                "{c} at {px} px: x {}..{} outside 0..{}",
                g.x,
                g.x + g.w as i32,
                2 * cw
            );
            assert!(
                g.y >= 0 && g.y + g.h as i32 <= ch,
                "{c} at {px} px: y {}..{} outside 0..{ch}",
                g.y,
                g.y + g.h as i32
            );
            assert!(g.x < cw && g.x + g.w as i32 > cw, "{c} at {px} px spans both cells");
        }
    }
}

#[test]
fn the_mp4_is_h264_and_lasts_the_session() {
    let dir = tmp();
    let out = dir.path().join("s.mp4");
    let result = Command::new(common::bin())
        .arg("convert")
        .arg(fixture("fullscreen.download.tar"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let (codec, pix, _, w, h, duration) = common::probe(&out);
    let span = open(&[fixture("fullscreen.koko.cast.gz")]).span_ms();
    assert_eq!((codec.as_str(), pix.as_str()), ("h264", "yuv420p"));
    assert_eq!((w, h), open(&[fixture("fullscreen.cast")]).screen());
    assert!((duration * 1000.0 - span as f64).abs() <= 45.0, "duration {duration} s vs span {span} ms");
}

#[test]
fn the_binary_takes_typescripts_sizes_fonts_and_idle_limits() {
    let dir = tmp();
    let png = dir.path().join("t.png");
    let run = |args: &[&std::ffi::OsStr]| Command::new(common::bin()).args(args).output().unwrap();
    let out = run(&[
        "snapshot".as_ref(),
        fixture("colours.guacd.typescript").as_os_str(),
        "--timing".as_ref(),
        fixture("colours.guacd.typescript.timing").as_os_str(),
        "--size".as_ref(),
        "100x30".as_ref(),
        "--at".as_ref(),
        "5000".as_ref(),
        "-o".as_ref(),
        png.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1000x570"), "100x30 cells of 10x19: {stdout}");
    // A missing font is a clear error naming it.
    let out = run(&[
        "snapshot".as_ref(),
        fixture("colours.cast").as_os_str(),
        "--font".as_ref(),
        "/nonexistent/Mono.ttf".as_ref(),
        "--at".as_ref(),
        "0".as_ref(),
        "-o".as_ref(),
        png.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/Mono.ttf"));
    // --idle-limit cuts silences; --max-size shrinks the font.
    let mp4 = dir.path().join("i.mp4");
    let out = run(&[
        "convert".as_ref(),
        fixture("fullscreen.cast").as_os_str(),
        "--idle-limit".as_ref(),
        "0.2".as_ref(),
        "--max-size".as_ref(),
        "640x480".as_ref(),
        "-o".as_ref(),
        mp4.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, _, _, w, h, duration) = common::probe(&mp4);
    assert!(w <= 640 && h <= 480, "{w}x{h}");
    assert!(duration < 3.0, "idle time cut: {duration} s");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn bad_input_warns_with_file_and_offset_and_never_panics() {
    let dir = tmp();
    // A broken line in the middle.
    let text = "{\"version\":2,\"width\":40,\"height\":10}\n[0.5,\"o\",\"hello\"]\n[0.7,\"o\",\"bro\n[1.0,\"o\",\" world\"]\n";
    let path = write(dir.path(), "broken.cast", text.as_bytes());
    let r = open(std::slice::from_ref(&path));
    let shot = snapshot(&*r, 2000).unwrap();
    let w = &shot.report.warnings;
    assert!(w.iter().any(|w| w.contains("broken.cast") && w.contains("byte 55")), "{w:?}");
    // A truncated gzip renders what came before.
    let whole = std::fs::read(fixture("fullscreen.koko.cast.gz")).unwrap();
    let cut = write(dir.path(), "cut.cast.gz", &whole[..whole.len() * 2 / 3]);
    let r = open(std::slice::from_ref(&cut));
    let shot = snapshot(&*r, r.span_ms()).unwrap();
    assert!(!shot.report.truncated.is_empty(), "{:?}", shot.report);
    assert!(r.span_ms() > 1000, "what came before the cut is played: {}", r.span_ms());
    // Absurd sizes are refused.
    let huge = write(
        dir.path(),
        "huge.cast",
        b"{\"version\":2,\"width\":100000,\"height\":50}\n[0.1,\"o\",\"x\"]\n",
    );
    let err = open_with(&[huge], None, &OpenOptions::default()).err().expect("refused");
    assert!(matches!(err, PlaybackError::Terminal(_)), "{err}");
    assert!(err.to_string().contains("too large"), "{err}");
    // A typescript without its timing file says what it needs.
    let ts = write(dir.path(), "lonely.typescript", b"[BEGIN TYPESCRIPT]\nabc\n");
    let err = open_with(&[ts], None, &OpenOptions::default()).err().expect("needs timing");
    assert!(err.to_string().contains("timing"), "{err}");
    // Unknown text is still "not a recording".
    let junk = write(dir.path(), "junk.bin", b"hello there");
    assert!(open_with(&[junk], None, &OpenOptions::default()).is_err());
}

#[test]
fn sealed_terminal_recordings_open_with_the_key() {
    let dir = tmp();
    let key = Arc::new(video_worker::seal::Key::from_secret("0123456789abcdef0123456789abcdef").unwrap());
    let plain = std::fs::read(fixture("colours.koko.cast.gz")).unwrap();
    let mut sealer = video_worker::seal::SealWriter::new(Vec::new(), &key).unwrap();
    sealer.write_all(&plain).unwrap();
    let sealed = write(dir.path(), "sealed.cast.gz", &sealer.finish().unwrap());
    let r = open_with(std::slice::from_ref(&sealed), Some(key), &OpenOptions::default()).unwrap();
    let reference = open(&[fixture("colours.cast")]);
    let t = reference.span_ms();
    assert!(snapshot(&*r, t).unwrap().picture == snapshot(&*reference, t).unwrap().picture);
}

fn read_stream(text: &[u8]) -> Vec<Item> {
    let mut lines = Lines::new(text);
    let Some(video_worker::terminal::lines::Line::Text { bytes, .. }) = lines.next() else {
        return Vec::new();
    };
    let Some(header) = parse_header(&bytes) else { return Vec::new() };
    CastEvents::new(lines, header.version, "p.cast").collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Any bytes after a header: no panic, and times never go back.
    #[test]
    fn the_reader_survives_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut text = b"{\"version\":2,\"width\":80,\"height\":24}\n".to_vec();
        text.extend_from_slice(&body);
        let mut last = 0;
        for item in read_stream(&text) {
            if let Item::Event(e) = item {
                prop_assert!(e.ms >= last);
                last = e.ms;
            }
        }
    }

    /// Events written as asciicast v2 read back as they were.
    #[test]
    fn v2_events_round_trip(events in proptest::collection::vec((0u32..100_000, "\\PC{0,20}"), 0..50)) {
        let mut text = String::from("{\"version\":2,\"width\":80,\"height\":24}\n");
        let mut t = 0u64;
        let mut expected = Vec::new();
        for (gap, data) in &events {
            t += u64::from(*gap);
            text.push_str(&serde_json::to_string(&(t as f64 / 1000.0, "o", data)).unwrap());
            text.push('\n');
            expected.push((t as i64, data.clone()));
        }
        let got: Vec<(i64, String)> = read_stream(text.as_bytes())
            .into_iter()
            .filter_map(|i| match i {
                Item::Event(e) => match e.kind { EventKind::Output(s) => Some((e.ms, s)), _ => None },
                _ => None,
            })
            .collect();
        prop_assert_eq!(got, expected);
    }
}

/// The service takes terminal recordings like any other: through the API
/// (raw and multipart, a `.tar` download included) and through the inbox.
#[test]
fn the_service_converts_terminal_recordings_from_the_api_and_the_inbox() {
    let dir = tmp();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let server = common::server::spawn_app(
        dir.path(),
        &[("VIDEO_WORKER_COUNT", "2"), ("INBOX_DIR", inbox.to_str().unwrap()), ("INBOX_POLL_SECONDS", "1")],
    );
    let long = std::time::Duration::from_secs(120);
    let raw = server.upload_raw(&fixture("fullscreen.koko.cast.gz"), "koko-session");
    let tar = std::fs::read(fixture("colours.download.tar")).unwrap();
    let (ct, body) =
        common::server::multipart(&[("session_id", None, b"tar-session"), ("file", Some("s.tar"), &tar)]);
    let (status, task) = server.post("/api/v1/recordings", &ct, &body);
    assert_eq!(status, 202, "{task}");
    let from_tar = task["id"].as_str().unwrap().to_string();
    std::fs::copy(fixture("fullscreen.koko-old.replay.gz"), inbox.join("old-koko.replay.gz")).unwrap();
    for (id, session) in [(raw.as_str(), "koko-session"), (from_tar.as_str(), "tar-session")] {
        let task = server.wait_finished(id, long);
        assert_eq!(task["state"], "done", "{task}");
        let key = task["outputs"][0]["key"].as_str().unwrap();
        assert!(key.ends_with(&format!("/{session}/{session}.mp4")), "{key}");
        assert_eq!(common::probe(&dir.path().join("replays").join(key)).0, "h264");
    }
    let deadline = std::time::Instant::now() + long;
    while !inbox.join("processed/old-koko.replay.gz").exists() {
        assert!(std::time::Instant::now() < deadline, "inbox not processed: {}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn tar_of(path: &Path, members: &[(&str, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

/// Core's `.tar` may hold a Guacamole replay or Lion's index and parts:
/// they play as a Guacamole session, parts in the index's order; the
/// unpacked index plays the same; a tar may carry a typescript pair.
#[test]
fn downloads_holding_guacamole_parts_or_a_typescript_play_too() {
    use common::Rec;
    let dir = tmp();
    let a = Rec::new().size(0, 64, 48).fill(0, 0, 0, 64, 48, [200, 0, 0, 255]).sync(1000).sync(1500);
    let b = Rec::new().size(0, 64, 48).fill(0, 0, 0, 32, 48, [0, 0, 200, 255]).sync(5000).sync(6000);
    let a = a.write(dir.path(), "s1.0.part");
    let b = b.write(dir.path(), "s1.1.part");
    let gz = |p: &Path| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(p).unwrap()).unwrap();
        e.finish().unwrap()
    };
    let index = serde_json::json!({"id": "s1", "type": "guacamole", "version": 5,
        "files": [{"name": "s1.0.part.gz"}, {"name": "s1.1.part.gz"}]});
    let tar = dir.path().join("s1.tar");
    // The tar's order is not the index's.
    tar_of(
        &tar,
        &[
            ("s1.1.part.gz", gz(&b)),
            ("s1.json", br#"{"id":"s1"}"#.to_vec()),
            ("s1.replay.json", index.to_string().into_bytes()),
            ("s1.0.part.gz", gz(&a)),
        ],
    );
    let direct = open(&[a.clone(), b.clone()]);
    let from_tar = open(std::slice::from_ref(&tar));
    assert_eq!(from_tar.span_ms(), direct.span_ms());
    for t in [0, 500, direct.span_ms()] {
        assert!(snapshot(&*from_tar, t).unwrap().picture == snapshot(&*direct, t).unwrap().picture, "at {t}");
    }
    // The unpacked form: the index beside its parts.
    let unpacked = tmp();
    std::fs::write(unpacked.path().join("s1.0.part.gz"), gz(&a)).unwrap();
    std::fs::write(unpacked.path().join("s1.1.part.gz"), gz(&b)).unwrap();
    let index_path = unpacked.path().join("s1.replay.json");
    std::fs::write(&index_path, index.to_string()).unwrap();
    let from_index = open(&[index_path]);
    let t = direct.span_ms();
    assert!(snapshot(&*from_index, t).unwrap().picture == snapshot(&*direct, t).unwrap().picture);
    // A tar of a typescript and its timing file.
    let ts_tar = dir.path().join("ts.tar");
    tar_of(
        &ts_tar,
        &[
            ("t.timing", std::fs::read(fixture("colours.guacd.typescript.timing")).unwrap()),
            ("t", std::fs::read(fixture("colours.guacd.typescript")).unwrap()),
        ],
    );
    let ts = open(&[ts_tar]);
    let cast = open(&[fixture("colours.cast")]);
    let t = cast.span_ms();
    assert!(snapshot(&*ts, t).unwrap().picture == snapshot(&*cast, t).unwrap().picture);
    // A tar holding nothing playable says so.
    let empty = dir.path().join("empty.tar");
    tar_of(&empty, &[("s1.json", b"{}".to_vec())]);
    let err = open_with(&[empty], None, &OpenOptions::default()).err().expect("nothing to play");
    assert!(err.to_string().contains("no recording"), "{err}");
}

/// asciinema 2.4 records the window change as an "r" event: the terminal
/// grows to 110x30 and the picture is sized for it.
#[test]
fn a_recorded_resize_grows_the_terminal_and_the_picture() {
    let recording = TerminalRecording::open(
        Source::Cast { path: fixture("resize.cast"), version: Version::V2 },
        None,
        &TerminalOptions::default(),
    )
    .unwrap();
    assert_eq!(recording.grid, (110, 30));
    assert_eq!(video_worker::playback::Recording::screen(&recording), (1100, 570));
    let mut widest = 0;
    recording
        .replay_screens(&mut |_, _, s| {
            widest = widest.max(s.text().iter().map(|l| l.chars().count()).max().unwrap_or(0));
        })
        .unwrap();
    assert!(widest > 80, "output used the wider terminal: {widest} columns");
}

/// Runs as root only (a private mount namespace needs it): `false`, with a
/// notice, otherwise, unless `VW_REQUIRE_ROOT` (scripts/test.sh sets it as
/// root) makes it a failure.
fn root_or_skip() -> bool {
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        assert!(
            std::env::var_os("VW_REQUIRE_ROOT").is_none(),
            "root is required (VW_REQUIRE_ROOT) but this is not root"
        );
        eprintln!("skipped: not root (a private mount namespace needs root)");
    }
    root
}

/// The fonts are inside the binary: with `/usr/share/fonts` empty (a tmpfs
/// over it in a private mount namespace) the real binary still draws
/// Chinese that OCR reads.
#[test]
fn cjk_is_drawn_without_any_system_font() {
    if !root_or_skip() || !tool_or_skip("tesseract") {
        return;
    }
    let dir = tmp();
    let png = dir.path().join("bare.png");
    // The mount must have hidden every system font, or the test proves nothing.
    let script =
        r#"mount -t tmpfs none /usr/share/fonts && test -z "$(ls -A /usr/share/fonts)" && exec "$0" "$@""#;
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", script])
        .arg(common::bin())
        .arg("snapshot")
        .arg(fixture("chinese.cast"))
        .args(["--at", "60000", "-o"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no glyph"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        has_chinese_ocr() || std::env::var_os("VW_REQUIRE_TERMINAL_TOOLS").is_none(),
        "chi_sim is required"
    );
    if !has_chinese_ocr() {
        eprintln!("skipped the OCR: tesseract has no chi_sim");
        return;
    }
    let expected = final_text(&fixture("chinese.cast")).join("\n");
    let (found, total) = ideographs_found(&expected, &ocr(&png, "eng+chi_sim"));
    eprintln!("no system fonts: OCR found {found} of {total} CJK characters");
    assert!(found * 10 >= total * 8, "OCR found {found} of {total} CJK characters without system fonts");
}

/// The emulator's text of a recording's last screen.
fn final_text(cast: &Path) -> Vec<String> {
    let recording = TerminalRecording::open(
        Source::Cast { path: cast.to_path_buf(), version: Version::V2 },
        None,
        &TerminalOptions::default(),
    )
    .unwrap();
    let mut text = Vec::new();
    recording.replay_screens(&mut |_, _, s| text = s.text()).unwrap();
    text
}

/// A character no font has is never silent: the conversion warns, once,
/// with how many were drawn and which; a recording without any does not.
#[test]
fn characters_no_font_has_are_counted_and_named() {
    let dir = tmp();
    let text = "{\"version\":2,\"width\":40,\"height\":5}\n[0.1,\"o\",\"spin \u{280b}\u{2819}\u{2839}\u{280b} ok \u{1fae0}\\r\\n\"]\n[0.3,\"o\",\"done\\r\\n\"]\n";
    let cast = write(dir.path(), "braille.cast", text.as_bytes());
    let mp4 = dir.path().join("braille.mp4");
    let out = Command::new(common::bin()).arg("convert").arg(&cast).arg("-o").arg(&mp4).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("warning:") && l.contains("no glyph")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    let expected = "5 characters have no glyph in any font (U+280B '\u{280b}', U+2819 '\u{2819}', U+2839 '\u{2839}', \
                    U+1FAE0 '\u{1fae0}'); drawn as boxes";
    assert!(warnings[0].contains("braille.cast") && warnings[0].contains(expected), "{stderr}");
    // Everything the fixtures hold has a glyph: no such warning.
    for name in ["colours.cast", "chinese.cast", "fullscreen.cast"] {
        let r = open(&[fixture(name)]);
        let report = snapshot(&*r, r.span_ms()).unwrap().report;
        assert!(!report.warnings.iter().any(|w| w.contains("no glyph")), "{name}: {:?}", report.warnings);
    }
}

/// Pillow (FreeType) for the hinted reference picture.
fn pillow_or_skip() -> bool {
    let found = Command::new("python3").args(["-c", "import PIL"]).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("VW_REQUIRE_TERMINAL_TOOLS").is_none(),
            "Pillow is required (VW_REQUIRE_TERMINAL_TOOLS) but missing: python3 -m pip install pillow"
        );
        eprintln!("skipped: Pillow (python3 -m pip install pillow) is not installed");
    }
    found
}

/// The FreeType-hinted picture of `lines` (tests/terminal/freetype_reference.py):
/// the same embedded font files and faces, px size and cell grid.
fn freetype_reference(
    lines: &[String],
    fonts: &video_worker::terminal::font::Fonts,
    size: (u32, u32),
    png: &Path,
) {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fonts");
    let job = serde_json::json!({
        "lines": lines, "cell": [fonts.cell_w, fonts.cell_h], "baseline": fonts.baseline(), "px": fonts.px,
        "size": [size.0, size.1], "latin": assets.join("DejaVuSansMono.ttf"),
        "cjk": assets.join("wqy-microhei.ttc"), "cjk_index": 1, "out": png,
    });
    let job_path = png.with_extension("json");
    std::fs::write(&job_path, job.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/terminal/freetype_reference.py");
    let out = Command::new("python3").arg(script).arg(&job_path).output().unwrap();
    assert!(out.status.success(), "freetype_reference.py: {}", String::from_utf8_lossy(&out.stderr));
}

/// Crispness: a real Chinese work session (asciinema 2.2) drawn by us and by
/// FreeType with hinting (what desktop terminals show), at the default size
/// and at sizes `--max-size` shrinks to; OCR of ours must find at least
/// FreeType's share of the CJK characters, less 10 points.
#[test]
fn cjk_reads_as_well_as_a_freetype_hinted_render() {
    if !tool_or_skip("tesseract") || !pillow_or_skip() {
        return;
    }
    assert!(
        has_chinese_ocr() || std::env::var_os("VW_REQUIRE_TERMINAL_TOOLS").is_none(),
        "chi_sim is required"
    );
    if !has_chinese_ocr() {
        eprintln!("skipped: tesseract has no chi_sim");
        return;
    }
    let dir = tmp();
    let lines = final_text(&fixture("chinese.cast"));
    let expected = lines.join("\n");
    for px in [16.0, 12.5] {
        let mut fonts = video_worker::terminal::font::Fonts::load(None).unwrap();
        fonts.set_px(px);
        let (w, h) = (80 * fonts.cell_w, 24 * fonts.cell_h);
        let max_size = Some((w + w % 2, h + h % 2));
        let recording = TerminalRecording::open(
            Source::Cast { path: fixture("chinese.cast"), version: Version::V2 },
            None,
            &TerminalOptions { max_size, ..Default::default() },
        )
        .unwrap();
        let size = video_worker::playback::Recording::screen(&recording);
        let shot = snapshot(&recording, 60_000).unwrap();
        let ours = dir.path().join(format!("ours-{px}.png"));
        write_png(&shot.picture, &ours).unwrap();
        let theirs = dir.path().join(format!("freetype-{px}.png"));
        freetype_reference(&lines, &fonts, size, &theirs);
        let (a, total) = ideographs_found(&expected, &ocr(&ours, "eng+chi_sim"));
        let (b, _) = ideographs_found(&expected, &ocr(&theirs, "eng+chi_sim"));
        let pct = |n: usize| n * 100 / total;
        eprintln!(
            "{px} px ({size:?}): OCR finds {}% of {total} CJK characters in ours, {}% in FreeType's",
            pct(a),
            pct(b)
        );
        assert!(pct(a) + 10 >= pct(b), "{px} px: ours {}% vs FreeType's {}%", pct(a), pct(b));
    }
}

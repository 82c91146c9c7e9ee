//! WebVTT: the keystroke sidecar (`<name>.keys.vtt`), one cue per batch.
//! Browsers, VLC and ffmpeg (for the MP4's `mov_text` track) read it.

use std::fmt::Write;

use super::batches::Batch;

/// How long a batch stays on screen after its last key...
const HOLD_MS: i64 = 2000;
/// ...and at least.
const MIN_MS: i64 = 1000;

/// The cues of `batches`, each shown from its first key until a little
/// after its last (never past the next batch, nor the video's end).
pub fn keystrokes(batches: &[Batch], video_end_ms: i64) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, b) in batches.iter().enumerate() {
        let mut end = (b.last_ms + HOLD_MS).max(b.start_ms + MIN_MS);
        if let Some(next) = batches.get(i + 1) {
            end = end.min(next.start_ms);
        }
        if video_end_ms > b.start_ms {
            end = end.min(video_end_ms);
        }
        let end = end.max(b.start_ms + 1);
        let _ = writeln!(out, "{} --> {}", timestamp(b.start_ms), timestamp(end));
        for line in b.text.split('\n').filter(|l| !l.is_empty()) {
            out.push_str(&escape(line));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// `HH:MM:SS.mmm`.
pub fn timestamp(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Cue text is markup: `<` opens a tag, `&` an entity, `-->` ends timings.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_hold_the_text_escaped_without_blank_lines() {
        let b = [
            Batch { start_ms: 1500, last_ms: 2000, text: "echo <b>&<Return>\n<Return>\n".into() },
            Batch { start_ms: 3000, last_ms: 3100, text: "x".into() },
            Batch { start_ms: 3_725_004, last_ms: 3_725_004, text: "q".into() },
        ];
        let vtt = keystrokes(&b, 3_725_500);
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:01.500 --> 00:00:03.000\necho &lt;b&gt;&amp;&lt;Return&gt;\n&lt;Return&gt;\n\n\
             00:00:03.000 --> 00:00:05.100\nx\n\n01:02:05.004 --> 01:02:05.500\nq\n\n"
        );
    }
}

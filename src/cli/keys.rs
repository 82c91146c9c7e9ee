//! `video-worker keys`: what was typed during a Guacamole session.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use video_worker::keys::{self, vtt};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per batch: its time, then what was typed.
    Text,
    /// The WebVTT keystroke track (what `convert --keystrokes` writes).
    Vtt,
    /// The batches as JSON: `[{"start_ms", "last_ms", "text"}]`.
    Json,
    /// Every key event as JSON, as guacamole-common-js's KeyEventInterpreter
    /// gives it: `[{"timestamp", "keysym", "name", "value", "pressed"}]`.
    Events,
}

#[derive(Args)]
pub struct KeysArgs {
    /// Recording files: raw or gzip; several parts of one session in order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    super::check_inputs(&args.inputs)?;
    let recording = video_worker::playback::open(&args.inputs, None)?;
    let events = recording.key_events()?;
    let batches = keys::batches(&events);
    let out = match args.format {
        Format::Text => text(&batches),
        Format::Vtt => vtt::keystrokes(&batches, recording.span_ms()),
        Format::Json => {
            let list: Vec<_> = batches
                .iter()
                .map(|b| serde_json::json!({"start_ms": b.start_ms, "last_ms": b.last_ms, "text": b.text}))
                .collect();
            serde_json::to_string_pretty(&list)? + "\n"
        }
        Format::Events => {
            let list: Vec<_> = events
                .iter()
                .map(|e| {
                    let d = keys::definition(e.keysym);
                    serde_json::json!({"timestamp": e.t_ms, "keysym": e.keysym, "name": d.name,
                        "value": d.value, "pressed": e.pressed})
                })
                .collect();
            serde_json::to_string(&list)? + "\n"
        }
    };
    print!("{out}");
    Ok(())
}

/// `[00:01:02.500] ls -la<Return>`, later lines of a batch indented.
fn text(batches: &[keys::Batch]) -> String {
    let mut out = String::new();
    for b in batches {
        let stamp = format!("[{}] ", vtt::timestamp(b.start_ms));
        let indent = " ".repeat(stamp.len());
        for (i, line) in b.text.trim_end_matches('\n').split('\n').enumerate() {
            out.push_str(if i == 0 { &stamp } else { &indent });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

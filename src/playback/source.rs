//! The reading side of playback, run on its own thread: parses each part in
//! order, assembles image streams, and hands each finished image to the
//! decoder pool, so images decode in parallel while the player draws.
//! Steps reach the player in recording order; an image step carries a
//! receiver for its decoded pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use image::ImageFormat;

use crate::guac::base64;
use crate::guac::input::open_recording;
use crate::guac::{Event, Instruction, IssueKind, LayerIndex, Parser};
use crate::render::Surface;
use crate::render::decode::{decode_image, format_for_mimetype};
use crate::seal::Key;

use super::PlaybackError;
use super::cpu::{Stage, thread_cpu};
use super::diagnostics::Diagnostics;

/// Where a step came from, for warnings.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub part: usize,
    pub offset: u64,
}

/// A decoded image on its way to the display.
pub struct ImageDraw {
    pub layer: LayerIndex,
    pub mask: i32,
    pub x: i32,
    pub y: i32,
    pub mimetype: String,
    pub stream: i32,
    /// Byte offset of the stream's `img` instruction.
    pub opened_at: u64,
    pub pixels: Receiver<Result<Surface, String>>,
    /// Returned when dropped, bounding how many decoded images wait in memory.
    pub _slot: DecodeSlot,
}

pub enum Step {
    PartStart(usize),
    Instruction(Origin, Instruction),
    Image(Origin, ImageDraw),
    Fatal(PlaybackError),
}

/// Stream indices accepted (guacd uses a few dozen at most).
const MAX_STREAM: i32 = 1023;
/// Largest image stream accepted, in decoded bytes.
const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;
/// Decoded images allowed to wait for the player at once.
const DECODE_SLOTS: usize = 16;
/// Steps buffered between the reader and the player.
const STEP_BUFFER: usize = 4096;

/// A permit from a counting semaphore built on a channel of tokens.
pub struct DecodeSlot(SyncSender<()>);

impl Drop for DecodeSlot {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

enum Stream {
    Image {
        layer: LayerIndex,
        mask: i32,
        x: i32,
        y: i32,
        mimetype: String,
        format: Option<ImageFormat>,
        data: Vec<u8>,
        bad_chars: usize,
        too_large: bool,
        origin: Origin,
    },
    /// Audio, clipboard, file...: occupies the index, carries nothing we draw.
    Other,
}

/// Starts the reader thread; returns the receiving end of its steps.
pub fn spawn(
    paths: Vec<PathBuf>,
    names: Vec<String>,
    key: Option<Arc<Key>>,
    diag: Diagnostics,
) -> Receiver<Step> {
    let (tx, rx) = sync_channel(STEP_BUFFER);
    std::thread::Builder::new()
        .name("guac-reader".into())
        .spawn(move || {
            let mut reader = Reader::new(tx, names, key, diag.clone());
            for (part, path) in paths.iter().enumerate() {
                if reader.read_part(part, path).is_err() {
                    break; // the player hung up
                }
            }
            diag.add_cpu(Stage::Parse, thread_cpu());
        })
        .expect("spawning the reader thread");
    rx
}

struct Reader {
    tx: SyncSender<Step>,
    names: Vec<String>,
    key: Option<Arc<Key>>,
    diag: Diagnostics,
    slots_tx: SyncSender<()>,
    slots_rx: Receiver<()>,
    streams: HashMap<i32, Stream>,
}

/// The player stopped listening; reading can end.
struct Hangup;

impl Reader {
    fn new(tx: SyncSender<Step>, names: Vec<String>, key: Option<Arc<Key>>, diag: Diagnostics) -> Reader {
        let (slots_tx, slots_rx) = sync_channel(DECODE_SLOTS);
        for _ in 0..DECODE_SLOTS {
            slots_tx.send(()).expect("channel has room for every slot");
        }
        Reader { tx, names, key, diag, slots_tx, slots_rx, streams: HashMap::new() }
    }

    fn send(&self, step: Step) -> Result<(), Hangup> {
        self.tx.send(step).map_err(|_| Hangup)
    }

    fn read_part(&mut self, part: usize, path: &Path) -> Result<(), Hangup> {
        // A new part is a new connection: its stream indices start afresh.
        self.streams.clear();
        self.send(Step::PartStart(part))?;
        let reader = match open_recording(path, self.key.as_deref()) {
            Ok(r) => r,
            Err(e) => return self.send(Step::Fatal(e.into())),
        };
        let mut parser = Parser::new(reader);
        while let Some(event) = parser.next_event() {
            match event {
                Event::Instruction(raw) => {
                    let origin = Origin { part, offset: raw.offset };
                    match Instruction::from_raw(&raw) {
                        Ok(instruction) => self.handle(origin, instruction)?,
                        Err(e) => self.warn(origin, format!("'{}' {}; skipped", e.opcode, e.reason)),
                    }
                }
                Event::Issue(issue) => {
                    if issue.kind == IssueKind::Truncated {
                        self.diag.truncated(&self.names[part], issue.offset);
                    }
                    let origin = Origin { part, offset: issue.offset };
                    self.warn(origin, issue.kind);
                }
            }
        }
        self.report_unfinished_streams(part);
        Ok(())
    }

    fn warn(&self, at: Origin, message: impl std::fmt::Display) {
        self.diag.warn(&self.names[at.part], at.offset, message);
    }

    fn handle(&mut self, at: Origin, instruction: Instruction) -> Result<(), Hangup> {
        match instruction {
            Instruction::Img { stream, mask, layer, mimetype, x, y } => {
                if self.check_stream(at, stream) {
                    let format = format_for_mimetype(&mimetype);
                    if format.is_none() {
                        self.warn(
                            at,
                            format!("image type '{mimetype}' is not supported; stream {stream} not drawn"),
                        );
                    }
                    let image = Stream::Image {
                        layer,
                        mask,
                        x,
                        y,
                        mimetype,
                        format,
                        data: Vec::new(),
                        bad_chars: 0,
                        too_large: false,
                        origin: at,
                    };
                    self.streams.insert(stream, image);
                }
            }
            Instruction::OtherStream { stream } => {
                if self.check_stream(at, stream) {
                    self.streams.insert(stream, Stream::Other);
                }
            }
            Instruction::Blob { stream, data } => self.blob(at, stream, &data),
            Instruction::End { stream } => {
                if let Some(s) = self.streams.remove(&stream) {
                    self.end(at, stream, s)?;
                }
            }
            other => self.send(Step::Instruction(at, other))?,
        }
        Ok(())
    }

    fn check_stream(&self, at: Origin, stream: i32) -> bool {
        let ok = (0..=MAX_STREAM).contains(&stream);
        if !ok {
            self.warn(at, format!("stream index {stream} is out of range 0..={MAX_STREAM}; ignored"));
        }
        ok
    }

    fn blob(&mut self, at: Origin, index: i32, text: &str) {
        let Some(Stream::Image { data, bad_chars, too_large, format: Some(_), .. }) =
            self.streams.get_mut(&index)
        else {
            return; // a blob of a non-image or unknown stream carries nothing to draw
        };
        if *too_large {
            return;
        }
        *bad_chars += base64::decode_into(text, data);
        if data.len() > MAX_STREAM_BYTES {
            *too_large = true;
            data.clear();
            data.shrink_to_fit();
            self.warn(at, format!("image stream {index} exceeds {MAX_STREAM_BYTES} bytes; not drawn"));
        }
    }

    fn end(&mut self, at: Origin, index: i32, stream: Stream) -> Result<(), Hangup> {
        let Stream::Image {
            layer,
            mask,
            x,
            y,
            mimetype,
            format: Some(format),
            data,
            bad_chars,
            too_large: false,
            origin,
        } = stream
        else {
            return Ok(());
        };
        if bad_chars > 0 {
            self.warn(
                origin,
                format!("image stream {index} had {bad_chars} characters that are not base64; ignored them"),
            );
        }
        let Ok(()) = self.slots_rx.recv() else {
            return Err(Hangup);
        };
        let slot = DecodeSlot(self.slots_tx.clone());
        let (tx, rx) = sync_channel(1);
        let diag = self.diag.clone();
        rayon::spawn(move || {
            let start = thread_cpu();
            let decoded = decode_image(&data, format);
            diag.add_cpu(Stage::Decode, thread_cpu().saturating_sub(start));
            let _ = tx.send(decoded);
        });
        let draw = ImageDraw {
            layer,
            mask,
            x,
            y,
            mimetype,
            stream: index,
            opened_at: origin.offset,
            pixels: rx,
            _slot: slot,
        };
        self.send(Step::Image(at, draw))
    }

    fn report_unfinished_streams(&mut self, part: usize) {
        for (index, stream) in self.streams.drain() {
            if let Stream::Image { origin, .. } = stream {
                self.diag.warn(
                    &self.names[part],
                    origin.offset,
                    format!("image stream {index} never ended; not drawn"),
                );
            }
        }
    }
}

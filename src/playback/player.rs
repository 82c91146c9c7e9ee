//! Applies the steps of a recording to the display and decides when the
//! picture is shown: at every `sync` (a finished frame), and at a timestamped
//! `mouse` when no frame is half-drawn (so the pointer moves smoothly, but a
//! half-applied frame is never shown, as in the browser player).

use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::guac::Instruction;
use crate::render::{Display, DrawError, Limits, Rect, Surface};

use super::PlaybackError;
use super::clock::{Clock, Timebase};
use super::cpu::{Stage, thread_cpu};
use super::diagnostics::Diagnostics;
use super::source::{ImageDraw, Origin, Step};

/// What the consumer of frames wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Receives the picture at render points.
pub trait FrameSink {
    /// `t` is session time in ms; `picture` is `Some` when it may have
    /// changed since the previous call, `None` when it certainly did not.
    fn render_point(&mut self, t: i64, picture: Option<&Surface>) -> Result<Flow, PlaybackError>;

    /// The sink's frame grid in ms: of several pictures within one grid
    /// step only the last is kept, so a player may offer just that one.
    fn min_gap_ms(&self) -> i64 {
        1
    }
}

pub struct Player {
    display: Display,
    canvas: Surface,
    clock: Clock,
    timebase: Timebase,
    names: Vec<String>,
    diag: Diagnostics,
    part: usize,
    /// Display revision at the last `sync`: a frame is open when it moved on.
    revision_at_sync: u64,
    /// CPU spent at render points (composing, then the sink choosing frames).
    compose_cpu: Duration,
}

impl Player {
    /// `canvas` is the output picture size (the largest screen of the session).
    pub fn new(
        canvas: (u32, u32),
        timebase: Timebase,
        names: Vec<String>,
        limits: Limits,
        diag: Diagnostics,
    ) -> Player {
        Player {
            display: Display::new(limits),
            canvas: Surface::new(canvas.0, canvas.1),
            clock: Clock::default(),
            timebase,
            names,
            diag,
            part: 0,
            revision_at_sync: 0,
            compose_cpu: Duration::ZERO,
        }
    }

    /// Plays every step; ends with a last render point at the session's end
    /// so drawing after the last `sync` (a cut-off recording) is still shown.
    pub fn run(
        &mut self,
        steps: Receiver<Step>,
        sink: &mut dyn FrameSink,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        let start = thread_cpu();
        let played = self.play_steps(steps, sink, progress);
        let total = thread_cpu().saturating_sub(start);
        self.diag.add_cpu(Stage::Compose, self.compose_cpu);
        self.diag.add_cpu(Stage::Draw, total.saturating_sub(self.compose_cpu));
        played
    }

    fn play_steps(
        &mut self,
        steps: Receiver<Step>,
        sink: &mut dyn FrameSink,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        for step in steps {
            let flow = match step {
                Step::PartStart(part) => {
                    self.part = part;
                    Flow::Continue
                }
                Step::Instruction(at, instruction) => self.instruction(at, instruction, sink, progress)?,
                Step::Image(at, draw) => {
                    self.image(at, draw)?;
                    Flow::Continue
                }
                Step::Fatal(e) => return Err(e),
            };
            if flow == Flow::Stop {
                return Ok(());
            }
        }
        let end = self.clock.now().max(self.timebase.span);
        progress(end);
        self.render_point(end, sink)?;
        Ok(())
    }

    fn instruction(
        &mut self,
        at: Origin,
        instruction: Instruction,
        sink: &mut dyn FrameSink,
        progress: &mut dyn FnMut(i64),
    ) -> Result<Flow, PlaybackError> {
        let d = &mut self.display;
        let result = match instruction {
            Instruction::Sync { timestamp } => {
                let t = self.session_time(timestamp);
                self.revision_at_sync = self.display.revision();
                progress(t);
                return self.render_point(t, sink);
            }
            Instruction::Mouse { x, y, timestamp } => {
                d.move_mouse(x, y);
                let Some(raw) = timestamp else {
                    return Ok(Flow::Continue);
                };
                let t = self.session_time(raw);
                if self.display.revision() != self.revision_at_sync {
                    return Ok(Flow::Continue); // a frame is half drawn
                }
                return self.render_point(t, sink);
            }
            Instruction::Copy { src, sx, sy, w, h, mask, dst, dx, dy } => {
                d.copy(src, rect(sx, sy, w, h), mask, dst, dx, dy)
            }
            Instruction::Transfer { src, sx, sy, w, h, function, dst, dx, dy } => {
                d.transfer(src, rect(sx, sy, w, h), function, dst, dx, dy)
            }
            Instruction::Rect { layer, x, y, w, h } => d.rect(layer, rect(x, y, w, h)),
            Instruction::Cfill { mask, layer, r, g, b, a } => d.cfill(mask, layer, [r, g, b, a]),
            Instruction::Size { layer, w, h } => d.size_layer(layer, w, h),
            Instruction::Move { layer, parent, x, y, z } => d.move_layer(layer, parent, x, y, z),
            Instruction::Shade { layer, opacity } => d.shade(layer, opacity),
            Instruction::Dispose { layer } => d.dispose(layer),
            Instruction::Cursor { hx, hy, src, sx, sy, w, h } => {
                d.set_cursor((hx, hy), src, rect(sx, sy, w, h))
            }
            Instruction::Unknown(opcode) => {
                self.diag.unknown_opcode(&opcode);
                Ok(())
            }
            // Streams are assembled by the reader; nothing else draws.
            _ => Ok(()),
        };
        self.check(at, result)?;
        Ok(Flow::Continue)
    }

    fn image(&mut self, at: Origin, draw: ImageDraw) -> Result<(), PlaybackError> {
        let decoded = draw.pixels.recv().unwrap_or_else(|_| Err("the decoder stopped".into()));
        match decoded {
            Ok(pixels) => {
                let result = self.display.draw_image(draw.layer, draw.mask, draw.x, draw.y, &pixels);
                self.check(at, result)
            }
            Err(cause) => {
                self.diag.bad_image();
                let what = format!(
                    "{} image of stream {} (opened at byte {}) not drawn",
                    draw.mimetype, draw.stream, draw.opened_at
                );
                self.warn(at, format!("{what}: {}", cause.trim()));
                Ok(())
            }
        }
    }

    /// Skipped instructions become warnings; oversized ones end playback.
    fn check(&self, at: Origin, result: Result<(), DrawError>) -> Result<(), PlaybackError> {
        match result {
            Ok(()) => Ok(()),
            Err(DrawError::Skipped(why)) => {
                self.warn(at, why);
                Ok(())
            }
            Err(DrawError::TooLarge(why)) => Err(PlaybackError::TooLarge {
                file: self.names[at.part].clone(),
                offset: at.offset,
                cause: why,
            }),
        }
    }

    fn warn(&self, at: Origin, message: impl std::fmt::Display) {
        self.diag.warn(&self.names[at.part], at.offset, message);
    }

    fn session_time(&mut self, raw: i64) -> i64 {
        let (t, older) = self.clock.observe(self.timebase.session_time(self.part, raw));
        if older {
            self.diag.backwards_timestamp();
        }
        t
    }

    fn render_point(&mut self, t: i64, sink: &mut dyn FrameSink) -> Result<Flow, PlaybackError> {
        let start = thread_cpu();
        let changed = self.display.compose(&mut self.canvas);
        let flow = sink.render_point(t, changed.then_some(&self.canvas));
        self.compose_cpu += thread_cpu().saturating_sub(start);
        flow
    }
}

fn rect(x: i32, y: i32, w: i32, h: i32) -> Rect {
    Rect::new(x.into(), y.into(), w.into(), h.into())
}

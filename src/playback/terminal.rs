//! Terminal recordings played into frames: a [`Recording`] over the
//! `terminal` layer's readers, emulator and rasteriser.
//!
//! A first pass reads the events for the session's span and its largest
//! size: `r` resize events, and, since KoKo records no resizes, cursor
//! positioning beyond the size in force (output addressed to column 120 of
//! an "80-column" terminal means the window was widened), which becomes a
//! resize at that event. The picture is sized for the largest terminal;
//! the font shrinks (down to 6 px) so that it fits `--max-size`.
//!
//! Playing feeds the events to the emulator and draws only changed rows.
//! The picture is offered to the sink once per frame slot of the sink's
//! grid (the state after every event up to the slot), which is exactly what
//! the frame timeline would keep, without drawing every event of a burst.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use avt::parser::{Function, Parser};

use crate::guac::input::{open_bounded, open_recording};
use crate::guac::limits::{InputLimits, Trip};
use crate::render::Limits;
use crate::seal::Key;
use crate::terminal::asciicast::{self, CastEvents, Version};
use crate::terminal::font::{FontSpec, Fonts, Missing};
use crate::terminal::lines::Lines;
use crate::terminal::raster::Raster;
use crate::terminal::screen::Screen;
use crate::terminal::typescript::TypescriptEvents;
use crate::terminal::{DEFAULT_SIZE, Event, EventKind, Item, KOKO_DEFAULT_SIZE, TermError, check_size};

use super::{Diagnostics, Flow, FrameSink, PlaybackError, Recording};

/// How terminal recordings are shown.
#[derive(Debug, Clone, Default)]
pub struct TerminalOptions {
    /// COLSxROWS for recordings that carry no size (typescripts, KoKo's old
    /// JSON); 80x24 when not given. An asciicast's own non-zero size wins.
    pub size: Option<(u16, u16)>,
    /// A font to put before the default chain (`PATH` or `PATH#FACE`).
    pub font: Option<String>,
    /// Silences longer than this (ms) are cut to it; real time when `None`.
    pub idle_limit_ms: Option<i64>,
    /// The largest picture; the font shrinks to fit.
    pub max_size: Option<(u32, u32)>,
    /// A typescript's timing file (otherwise given as a second input, or
    /// found beside the data file as `<data>.timing`).
    pub timing: Option<PathBuf>,
}

/// Where the events come from.
#[derive(Debug, Clone)]
pub enum Source {
    Cast { path: PathBuf, version: Version },
    Document { path: PathBuf },
    Typescript { data: PathBuf, timing: PathBuf },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Cast { path, .. } | Source::Document { path } => path.display().to_string(),
            Source::Typescript { data, timing } => {
                format!("{} (timing {})", data.display(), timing.display())
            }
        }
    }
}

/// A terminal session, with what the first pass learned.
pub struct TerminalRecording {
    source: Source,
    name: String,
    key: Option<Arc<Key>>,
    idle_limit_ms: Option<i64>,
    /// The size at the start.
    initial: (u16, u16),
    /// Resizes inferred from output beyond the size: (event number, cols, rows).
    inferred: Vec<(u64, u16, u16)>,
    /// The largest size reached.
    pub grid: (u16, u16),
    span_ms: i64,
    bytes: u64,
    fonts: Fonts,
    picture: (u32, u32),
}

/// Counts bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Cuts silences to the idle limit, the same way in both passes.
struct IdleClock {
    limit: Option<i64>,
    last_raw: i64,
    cut: i64,
}

impl IdleClock {
    fn new(limit: Option<i64>) -> IdleClock {
        IdleClock { limit, last_raw: 0, cut: 0 }
    }

    fn time(&mut self, raw: i64) -> i64 {
        if let Some(limit) = self.limit {
            let gap = raw - self.last_raw;
            if gap > limit {
                self.cut += gap - limit;
            }
        }
        self.last_raw = raw;
        raw - self.cut
    }
}

/// Tracks the size output addresses by absolute cursor positioning.
struct SizeProbe {
    parser: Parser,
}

/// Coordinates at or past this are the "move to the far corner" idiom
/// (`ESC[999;999H`) that probes a terminal's size, not a size.
const PROBE_COORDINATE: u16 = 999;

impl SizeProbe {
    fn needed(&mut self, text: &str) -> (u16, u16) {
        let (mut cols, mut rows) = (0u16, 0u16);
        let ok = |v: u16| if v >= PROBE_COORDINATE { 0 } else { v };
        for ch in text.chars() {
            match self.parser.feed(ch) {
                Some(Function::Cup(r, c)) => {
                    rows = rows.max(ok(r));
                    cols = cols.max(ok(c));
                }
                Some(Function::Cha(c)) => cols = cols.max(ok(c)),
                Some(Function::Vpa(r)) => rows = rows.max(ok(r)),
                Some(Function::Decstbm(_, b)) => rows = rows.max(ok(b)),
                _ => {}
            }
        }
        (cols.min(crate::terminal::MAX_COLS), rows.min(crate::terminal::MAX_ROWS))
    }
}

type Items = Box<dyn Iterator<Item = Item> + Send>;

impl TerminalRecording {
    /// Scans a terminal recording; fails when it cannot be read at all or
    /// its size is absurd.
    pub fn open(
        source: Source,
        key: Option<Arc<Key>>,
        options: &TerminalOptions,
    ) -> Result<TerminalRecording, PlaybackError> {
        TerminalRecording::open_limited(source, key, options, InputLimits::default())
    }

    /// [`TerminalRecording::open`] refusing inputs that decompress past `limits`.
    pub fn open_limited(
        source: Source,
        key: Option<Arc<Key>>,
        options: &TerminalOptions,
        limits: InputLimits,
    ) -> Result<TerminalRecording, PlaybackError> {
        let name = source.describe();
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let first = FirstPass { count: counter.clone(), limits, trips: Vec::new() };
        let Opened { items, size: header_size, trips } =
            open_items(&source, key.as_deref(), &name, Some(first))?;
        let header_size = match header_size {
            Some((c, r)) => Some(check_size(&name, c, r)?),
            None => None,
        };
        let initial = match (&source, header_size) {
            (_, Some(size)) => size,
            (Source::Cast { .. }, None) => options.size.unwrap_or(KOKO_DEFAULT_SIZE),
            _ => options.size.unwrap_or(DEFAULT_SIZE),
        };
        let (initial, _) = (check_size(&name, initial.0.into(), initial.1.into())?, ());
        let initial = (initial.0.max(1), initial.1.max(1));
        let mut current = initial;
        let mut grid = initial;
        let mut inferred = Vec::new();
        let mut probe = SizeProbe { parser: Parser::new() };
        let mut clock = IdleClock::new(options.idle_limit_ms);
        let mut span = 0i64;
        let mut index = 0u64;
        for item in items {
            let Item::Event(Event { ms, kind }) = item else { continue };
            span = span.max(clock.time(ms));
            match kind {
                EventKind::Output(text) => {
                    let (c, r) = probe.needed(&text);
                    if c > current.0 || r > current.1 {
                        current = (current.0.max(c), current.1.max(r));
                        inferred.push((index, current.0, current.1));
                    }
                }
                EventKind::Resize(c, r) => current = (c.max(1), r.max(1)),
                EventKind::Other => {}
            }
            grid = (grid.0.max(current.0), grid.1.max(current.1));
            index += 1;
        }
        for trip in &trips {
            trip.check()?;
        }
        let spec = options.font.as_deref().map(FontSpec::parse);
        let mut fonts = Fonts::load(spec.as_ref())?;
        fonts.fit(grid.0, grid.1, options.max_size);
        let even = |v: u32| (v + v % 2).max(2);
        let picture = (even(u32::from(grid.0) * fonts.cell_w), even(u32::from(grid.1) * fonts.cell_h));
        let max = Limits::default().max_side;
        if picture.0 > max || picture.1 > max {
            return Err(PlaybackError::TooLarge {
                file: name,
                offset: 0,
                cause: format!(
                    "a {}x{} terminal makes a {}x{} picture, over {max} pixels a side",
                    grid.0, grid.1, picture.0, picture.1
                ),
            });
        }
        let bytes = counter.load(std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(target: "video_worker::terminal", file = %name, ?grid, span, px = fonts.px, "scanned");
        Ok(TerminalRecording {
            source,
            name,
            key,
            idle_limit_ms: options.idle_limit_ms,
            initial,
            inferred,
            grid,
            span_ms: span,
            bytes,
            fonts,
            picture,
        })
    }

    /// The fonts in use, first to last.
    pub fn font_names(&self) -> Vec<String> {
        self.fonts.names.to_vec()
    }

    /// The terminal screen as each event leaves it, for checking the
    /// emulator against another one: `visit(ms, screen)` after each event.
    pub fn replay_screens(&self, visit: &mut dyn FnMut(i64, &Event, &Screen)) -> Result<(), PlaybackError> {
        let items = open_items(&self.source, self.key.as_deref(), &self.name, None)?.items;
        let mut screen = Screen::new(self.initial.0, self.initial.1);
        let mut clock = IdleClock::new(self.idle_limit_ms);
        let mut inferred = self.inferred.iter().peekable();
        let mut index = 0u64;
        for item in items {
            let Item::Event(event) = item else { continue };
            let t = clock.time(event.ms);
            apply(&mut screen, &event, index, &mut inferred);
            visit(t, &event, &screen);
            index += 1;
        }
        Ok(())
    }
}

fn apply(
    screen: &mut Screen,
    event: &Event,
    index: u64,
    inferred: &mut std::iter::Peekable<std::slice::Iter<'_, (u64, u16, u16)>>,
) -> bool {
    let mut resized = false;
    while let Some(&&(at, c, r)) = inferred.peek() {
        if at > index {
            break;
        }
        inferred.next();
        let (cols, rows) = screen.size();
        screen.resize(c.max(cols as u16), r.max(rows as u16));
        resized = true;
    }
    match &event.kind {
        EventKind::Output(text) => screen.feed(text),
        EventKind::Resize(c, r) => {
            screen.resize(*c, *r);
            resized = true;
        }
        EventKind::Other => {}
    }
    resized
}

/// What the first pass adds to reading: counting the bytes, and the limits
/// (the second pass reads the same bytes, which the first pass accepted).
struct FirstPass {
    count: Arc<std::sync::atomic::AtomicU64>,
    limits: InputLimits,
    trips: Vec<Trip>,
}

/// Opens the event stream of `source`, the size its header gives, and (in
/// the first pass) the trips that say whether an input went over its limits.
fn open_items(
    source: &Source,
    key: Option<&Key>,
    name: &str,
    mut first: Option<FirstPass>,
) -> Result<Opened, PlaybackError> {
    let count = first.as_ref().map(|f| f.count.clone()).unwrap_or_default();
    let mut open = |path: &Path| -> Result<Counting<Box<dyn Read + Send>>, PlaybackError> {
        let inner = match first.as_mut() {
            Some(f) => {
                let (reader, trip) = open_bounded(path, key, f.limits)?;
                f.trips.push(trip);
                reader
            }
            None => open_recording(path, key)?,
        };
        Ok(Counting { inner, count: count.clone() })
    };
    let (items, size): (Items, _) = match source {
        Source::Cast { path, version } => {
            let mut lines = Lines::new(BufReader::with_capacity(256 * 1024, open(path)?));
            let header = match lines.next() {
                Some(crate::terminal::lines::Line::Text { bytes, .. }) => asciicast::parse_header(&bytes),
                _ => None,
            };
            let Some(header) = header else {
                return Err(
                    TermError::Format { file: name.into(), cause: "no asciicast header".into() }.into()
                );
            };
            debug_assert_eq!(header.version, *version);
            (Box::new(CastEvents::new(lines, header.version, name)), header.size)
        }
        Source::Document { path } => {
            let input = open(path)?;
            let doc = asciicast::read_document(input, name);
            // A refused input shows as the limit, not as broken JSON.
            for trip in first.iter().flat_map(|f| &f.trips) {
                trip.check()?;
            }
            let doc = doc?;
            let warnings = doc.warnings.into_iter().map(|message| Item::Warning { offset: 0, message });
            let events = doc.events.into_iter().map(Item::Event);
            (Box::new(warnings.chain(events)), doc.size)
        }
        Source::Typescript { data, timing } => {
            let data = BufReader::with_capacity(256 * 1024, open(data)?);
            let timing = BufReader::new(open(timing)?);
            (Box::new(TypescriptEvents::new(data, timing)), None)
        }
    };
    Ok(Opened { items, size, trips: first.map(|f| f.trips).unwrap_or_default() })
}

/// An opened event stream.
struct Opened {
    items: Items,
    /// The size the header gives.
    size: Option<(u64, u64)>,
    /// Set when an input went over its limits (first pass only).
    trips: Vec<Trip>,
}

/// The first grid point at or after `t` (as the frame timeline places frames).
fn slot(t: i64, gap: i64) -> i64 {
    (t.max(0) + gap - 1) / gap * gap
}

impl Recording for TerminalRecording {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn screen(&self) -> (u32, u32) {
        self.picture
    }

    fn span_ms(&self) -> i64 {
        self.span_ms
    }

    fn input_bytes(&self) -> u64 {
        self.bytes
    }

    fn play(
        &self,
        sink: &mut dyn FrameSink,
        diag: &Diagnostics,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        let mut raster = Raster::new(self.fonts.clone(), self.picture);
        let played = self.play_into(&mut raster, sink, diag, progress);
        self.report_missing(raster.missing(), diag);
        played
    }
}

impl TerminalRecording {
    /// Says, once per playing, how many characters no font could draw and
    /// which: otherwise a session full of boxes converts "successfully"
    /// without a word of why.
    fn report_missing(&self, missing: &Missing, diag: &Diagnostics) {
        if let Some(message) = missing.describe() {
            tracing::warn!(target: "video_worker::terminal", file = %self.name, "{message}");
            diag.warn(&self.name, 0, message);
        }
    }

    fn play_into(
        &self,
        raster: &mut Raster,
        sink: &mut dyn FrameSink,
        diag: &Diagnostics,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        let items = open_items(&self.source, self.key.as_deref(), &self.name, None)?.items;
        let mut screen = Screen::new(self.initial.0, self.initial.1);
        let gap = sink.min_gap_ms().max(1);
        let mut clock = IdleClock::new(self.idle_limit_ms);
        let mut inferred = self.inferred.iter().peekable();
        let mut index = 0u64;
        let mut changed = true; // the first picture, at 0
        let mut last_t = 0i64;
        let show = |screen: &mut Screen, raster: &mut Raster, sink: &mut dyn FrameSink, t: i64| {
            let rows = screen.take_dirty();
            raster.draw_rows(screen, &rows);
            sink.render_point(t, Some(raster.canvas()))
        };
        for item in items {
            let event = match item {
                Item::Event(e) => e,
                Item::Warning { offset, message } => {
                    diag.warn(&self.name, offset, message);
                    continue;
                }
                Item::Truncated { offset } => {
                    diag.truncated(&self.name, offset);
                    continue;
                }
            };
            let t = clock.time(event.ms);
            if changed && slot(t, gap) != slot(last_t, gap) {
                if show(&mut screen, raster, sink, last_t)? == Flow::Stop {
                    return Ok(());
                }
                changed = false;
            }
            if apply(&mut screen, &event, index, &mut inferred) {
                let (cols, rows) = screen.size();
                raster.clear_outside(cols, rows);
            }
            changed |= !matches!(event.kind, EventKind::Other);
            last_t = t;
            index += 1;
            progress(t);
        }
        if changed && show(&mut screen, raster, sink, last_t)? == Flow::Stop {
            return Ok(());
        }
        progress(self.span_ms);
        sink.render_point(self.span_ms.max(last_t), None)?;
        Ok(())
    }
}

//! Glyphs for the terminal picture: a monospace font with per-glyph
//! fallback, so CJK, kana, hangul, box drawing and block elements all
//! render, hinted as a desktop terminal hints them.
//!
//! The default fonts are compiled into the binary (`assets/fonts/`, with
//! their licences): DejaVu Sans Mono with its bold and oblique faces (Latin,
//! Greek, Cyrillic, box drawing), then WenQuanYi Micro Hei Mono (face 1 of
//! `wqy-microhei.ttc`: CJK, kana, hangul, full-width punctuation). No system
//! font is looked for, so every machine draws the same picture and one
//! without CJK fonts still draws Chinese. `--font` / `TERMINAL_FONT` puts a
//! font file first (`PATH` or `PATH#FACE` for a collection); the embedded
//! chain stays behind it.
//!
//! Outlines are hinted (skrifa: the TrueType interpreter for fonts with
//! instructions, FreeType's autohinter for the others, as FreeType chooses)
//! and placed at whole pixels, so the picture is the one FreeType, and so a
//! desktop terminal, draws: unhinted, DejaVu's stems fall between pixels and
//! come out grey. (WenQuanYi's CJK outlines rasterise to the same pixels
//! hinted or not; docs/terminal.md has the measurements.)
//!
//! A glyph from a fallback font is hinted at a size at which it fits the
//! cells it occupies (two for a wide character) and centred there on a
//! whole pixel: CJK text is never clipped and never overlaps its neighbours.
//!
//! A character no font has is drawn as U+FFFD and counted ([`Missing`]), so
//! that a conversion can say which characters it could not draw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ab_glyph_rasterizer::{Point, Rasterizer, point};
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{
    DrawSettings, Engine, GlyphStyles, HintingInstance, HintingOptions, OutlineGlyphCollection, OutlinePen,
    SmoothMode, Target,
};
use skrifa::{FontRef, GlyphId, MetadataProvider};

use super::TermError;

/// The default font size: about what a desktop terminal shows.
pub const DEFAULT_PX: f32 = 16.0;
/// The smallest size used when fitting a large terminal into `--max-size`.
pub const MIN_PX: f32 = 6.0;

/// A font file compiled into the binary.
struct Embedded {
    /// Its file name in `assets/fonts/` (and `#FACE` for a collection).
    name: &'static str,
    data: &'static [u8],
    index: u32,
}

/// DejaVu Sans Mono 2.37: regular, bold, oblique, bold oblique (the order of [`Style`]).
static DEJAVU: [Embedded; 4] = [
    Embedded {
        name: "DejaVuSansMono.ttf",
        data: include_bytes!("../../assets/fonts/DejaVuSansMono.ttf"),
        index: 0,
    },
    Embedded {
        name: "DejaVuSansMono-Bold.ttf",
        data: include_bytes!("../../assets/fonts/DejaVuSansMono-Bold.ttf"),
        index: 0,
    },
    Embedded {
        name: "DejaVuSansMono-Oblique.ttf",
        data: include_bytes!("../../assets/fonts/DejaVuSansMono-Oblique.ttf"),
        index: 0,
    },
    Embedded {
        name: "DejaVuSansMono-BoldOblique.ttf",
        data: include_bytes!("../../assets/fonts/DejaVuSansMono-BoldOblique.ttf"),
        index: 0,
    },
];

/// WenQuanYi Micro Hei 0.2.0-beta; face 1 of the collection is its Mono face.
static WQY_MICRO_HEI_MONO: Embedded = Embedded {
    name: "wqy-microhei.ttc#1",
    data: include_bytes!("../../assets/fonts/wqy-microhei.ttc"),
    index: 1,
};

/// The names [`Fonts::names`] gives the embedded default chain, first to last.
pub fn embedded_names() -> Vec<String> {
    [&DEJAVU[0], &WQY_MICRO_HEI_MONO].iter().map(|e| format!("embedded:{}", e.name)).collect()
}

/// How outlines are fitted to the pixel grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hinting {
    /// FreeType's default (`FT_LOAD_TARGET_NORMAL`): what desktop terminals
    /// and Pillow draw, and what reads best (docs/terminal.md).
    #[default]
    Normal,
    /// The outlines as designed, scaled: kept for comparisons.
    Off,
}

impl Hinting {
    fn target(self) -> Option<Target> {
        match self {
            Hinting::Normal => Some(SmoothMode::Normal.into()),
            Hinting::Off => None,
        }
    }
}

/// A font file and its face index (`PATH#FACE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontSpec {
    pub path: PathBuf,
    pub index: u32,
}

impl FontSpec {
    pub fn parse(text: &str) -> FontSpec {
        if let Some((path, index)) = text.rsplit_once('#')
            && let Ok(index) = index.parse()
        {
            return FontSpec { path: PathBuf::from(path), index };
        }
        FontSpec { path: PathBuf::from(text), index: 0 }
    }

    /// Reads and checks the font: it must parse and have outlines and a
    /// character map, or every character would silently become a box.
    fn load(&self) -> Result<Face, String> {
        let data = std::fs::read(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let face = Face::new(Bytes::Loaded(data.into()), self.index, self.to_string());
        let font = FontRef::from_index(face.bytes.get(), self.index)
            .map_err(|e| format!("{self} (face {}): not a usable font: {e}", self.index))?;
        if !font.charmap().has_map() {
            return Err(format!("{self}: the font has no character map"));
        }
        if font.outline_glyphs().format().is_none() {
            return Err(format!("{self}: the font has no outlines (a bitmap-only font?)"));
        }
        Ok(face)
    }
}

impl std::fmt::Display for FontSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            0 => write!(f, "{}", self.path.display()),
            i => write!(f, "{}#{i}", self.path.display()),
        }
    }
}

/// Coverage of one glyph, placed relative to its first cell's top-left corner.
#[derive(Debug, Default)]
pub struct Bitmap {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
    pub coverage: Vec<u8>,
}

/// Characters drawn that no font has a glyph for: how many were drawn
/// (every occurrence, each time its row is drawn) and the first few
/// distinct ones, to name in a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    pub count: u64,
    pub chars: Vec<char>,
    /// Other distinct characters were missing beyond those named.
    pub more: bool,
}

impl Missing {
    /// How many distinct characters a warning names.
    pub const NAMED: usize = 5;

    fn note(&mut self, ch: char) {
        self.count += 1;
        if !self.chars.contains(&ch) {
            if self.chars.len() < Self::NAMED {
                self.chars.push(ch);
            } else {
                self.more = true;
            }
        }
    }

    /// The warning to give, when any character was missing.
    pub fn describe(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut named: Vec<String> =
            self.chars.iter().map(|&c| format!("U+{:04X} '{c}'", c as u32)).collect();
        if self.more {
            named.push("...".into());
        }
        let count = match self.count {
            1 => "1 character has".to_string(),
            n => format!("{n} characters have"),
        };
        Some(format!("{count} no glyph in any font ({}); drawn as boxes", named.join(", ")))
    }
}

/// A font's bytes: compiled in, or read from a file.
#[derive(Clone)]
enum Bytes {
    Embedded(&'static [u8]),
    Loaded(Arc<[u8]>),
}

impl Bytes {
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Embedded(b) => b,
            Bytes::Loaded(b) => b,
        }
    }
}

/// One face of a font file.
#[derive(Clone)]
struct Face {
    bytes: Bytes,
    index: u32,
    name: String,
    /// The autohinter's script analysis of every glyph: computed once per
    /// face, when first needed (it scans the whole font).
    styles: Arc<OnceLock<GlyphStyles>>,
}

impl Face {
    fn new(bytes: Bytes, index: u32, name: String) -> Face {
        Face { bytes, index, name, styles: Arc::default() }
    }

    /// Parsing the table directory is cheap; the font was checked when loaded.
    fn font(&self) -> Option<FontRef<'_>> {
        FontRef::from_index(self.bytes.get(), self.index).ok()
    }

    fn glyph_id(&self, ch: char) -> Option<GlyphId> {
        self.font()?.charmap().map(ch).filter(|g| g.to_u32() != 0)
    }
}

/// The embedded faces, shared by every recording of the process (so the
/// autohinter's analysis of the CJK font is done once).
fn embedded() -> &'static [Face; 5] {
    static FACES: OnceLock<[Face; 5]> = OnceLock::new();
    FACES.get_or_init(|| {
        let face = |e: &Embedded| Face::new(Bytes::Embedded(e.data), e.index, format!("embedded:{}", e.name));
        [face(&DEJAVU[0]), face(&DEJAVU[1]), face(&DEJAVU[2]), face(&DEJAVU[3]), face(&WQY_MICRO_HEI_MONO)]
    })
}

/// The faces in fallback order.
struct Chain {
    /// `faces[0]` is the first font's regular face.
    faces: Vec<Face>,
    /// The first font's faces by style (regular, bold, italic, bold italic).
    styled: [Option<usize>; 4],
    /// The fonts behind the first one, in order.
    fallbacks: Vec<usize>,
    names: Vec<String>,
}

impl Chain {
    fn embedded() -> Chain {
        let faces = embedded().to_vec();
        let names = vec![faces[0].name.clone(), faces[4].name.clone()];
        Chain { faces, styled: [Some(0), Some(1), Some(2), Some(3)], fallbacks: vec![4], names }
    }

    /// The given font with its style siblings, then the embedded regular
    /// faces as fallbacks.
    fn with_first(spec: &FontSpec, first: Face) -> Chain {
        let mut faces = vec![first];
        let mut styled = [Some(0), None, None, None];
        for (style, sibling) in style_siblings(spec).into_iter().enumerate() {
            if let Some(face) = sibling {
                styled[style + 1] = Some(faces.len());
                faces.push(face);
            }
        }
        let mut names = vec![spec.to_string()];
        let mut fallbacks = Vec::new();
        for face in [&embedded()[0], &embedded()[4]] {
            names.push(face.name.clone());
            fallbacks.push(faces.len());
            faces.push(face.clone());
        }
        Chain { faces, styled, fallbacks, names }
    }
}

/// The style faces beside a font file (`X.ttf` -> `X-Bold.ttf`, ...).
fn style_siblings(spec: &FontSpec) -> [Option<Face>; 3] {
    let (Some(stem), Some(ext)) = (spec.path.file_stem(), spec.path.extension()) else {
        return [None, None, None];
    };
    let (stem, ext) = (stem.to_string_lossy(), ext.to_string_lossy());
    let dir = spec.path.parent().unwrap_or(Path::new("."));
    let find = |names: &[&str]| {
        names.iter().find_map(|suffix| {
            let path = dir.join(format!("{stem}-{suffix}.{ext}"));
            path.is_file().then(|| FontSpec { path, index: spec.index }.load().ok()).flatten()
        })
    };
    [find(&["Bold"]), find(&["Oblique", "Italic"]), find(&["BoldOblique", "BoldItalic"])]
}

/// A glyph outline in pixels, y down, relative to its origin on the baseline.
#[derive(Default)]
struct Outline {
    curves: Vec<Curve>,
    advance: f32,
}

enum Curve {
    Line(Point, Point),
    Quad(Point, Point, Point),
    Cubic(Point, Point, Point, Point),
}

impl Curve {
    /// Its end and control points (repeated to make four): the curve lies within them.
    fn points(&self) -> [Point; 4] {
        match *self {
            Curve::Line(a, b) => [a, b, b, b],
            Curve::Quad(a, b, c) => [a, b, c, c],
            Curve::Cubic(a, b, c, d) => [a, b, c, d],
        }
    }
}

impl Outline {
    /// The whole pixels the outline's points touch: (left, top, right, bottom).
    fn pixel_bounds(&self) -> Option<(i32, i32, i32, i32)> {
        let mut points = self.curves.iter().flat_map(Curve::points);
        let first = points.next()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x, first.y);
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.x), y0.min(p.y), x1.max(p.x), y1.max(p.y));
        }
        Some((x0.floor() as i32, y0.floor() as i32, x1.ceil() as i32, y1.ceil() as i32))
    }

    /// Coverage of the outline with its origin at (`x`, `y`) of the cell,
    /// both whole pixels so that hinted stems stay on the pixel grid;
    /// `embolden` smears it one pixel right (a bold the font lacks).
    fn rasterise(&self, x: i32, y: i32, embolden: bool) -> Bitmap {
        let Some((left, top, right, bottom)) = self.pixel_bounds() else {
            return Bitmap::default();
        };
        let (w, h) = ((right - left) as usize, (bottom - top) as usize);
        if w == 0 || h == 0 {
            return Bitmap::default();
        }
        let mut raster = Rasterizer::new(w, h);
        let at = |p: &Point| point(p.x - left as f32, p.y - top as f32);
        for curve in &self.curves {
            match curve {
                Curve::Line(a, b) => raster.draw_line(at(a), at(b)),
                Curve::Quad(a, b, c) => raster.draw_quad(at(a), at(b), at(c)),
                Curve::Cubic(a, b, c, d) => raster.draw_cubic(at(a), at(b), at(c), at(d)),
            }
        }
        let stride = w + usize::from(embolden);
        let mut coverage = vec![0u8; stride * h];
        raster.for_each_pixel_2d(|px, py, c| {
            let v = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
            let i = py as usize * stride + px as usize;
            for j in i..=i + usize::from(embolden) {
                if let Some(p) = coverage.get_mut(j) {
                    *p = (*p).max(v);
                }
            }
        });
        Bitmap { x: x + left, y: y + top, w: stride as u32, h: h as u32, coverage }
    }
}

/// Collects skrifa's path commands (font units scaled, y up) as pixels, y down.
#[derive(Default)]
struct Pen {
    curves: Vec<Curve>,
    start: Option<Point>,
    last: Point,
}

impl Pen {
    fn close_contour(&mut self) {
        if let Some(start) = self.start.take()
            && (start.x != self.last.x || start.y != self.last.y)
        {
            self.curves.push(Curve::Line(self.last, start));
        }
    }
}

impl OutlinePen for Pen {
    fn move_to(&mut self, x: f32, y: f32) {
        self.close_contour();
        self.last = point(x, -y);
        self.start = Some(self.last);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = point(x, -y);
        self.curves.push(Curve::Line(self.last, p));
        self.last = p;
    }

    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        let p = point(x, -y);
        self.curves.push(Curve::Quad(self.last, point(cx0, -cy0), p));
        self.last = p;
    }

    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        let p = point(x, -y);
        self.curves.push(Curve::Cubic(self.last, point(cx0, -cy0), point(cx1, -cy1), p));
        self.last = p;
    }

    fn close(&mut self) {
        self.close_contour();
    }
}

/// A hinter for `face` at `size`, as FreeType picks one: the font's own
/// instructions when it has any, the autohinter otherwise. `None` when the
/// font cannot be hinted (then it is drawn unhinted).
fn make_hinter(
    face: &Face,
    outlines: &OutlineGlyphCollection,
    size: f32,
    target: Target,
) -> Option<HintingInstance> {
    let engine = if outlines.prefer_interpreter() {
        Engine::Interpreter
    } else {
        Engine::Auto(Some(face.styles.get_or_init(|| GlyphStyles::new(outlines)).clone()))
    };
    let options = HintingOptions { engine, target };
    HintingInstance::new(outlines, Size::new(size), LocationRef::default(), options).ok()
}

/// Where to put an extent `start..end` (relative to `pos`) so that it lies
/// within `0..limit`: `pos` when it does, moved in when it sticks out, its
/// start at 0 when it is larger than the limit.
fn inside(pos: i32, start: i32, end: i32, limit: i32) -> i32 {
    if pos + start < 0 {
        -start
    } else if pos + end > limit {
        (limit - end).max(-start)
    } else {
        pos
    }
}

type GlyphKey = (char, u8, u8);

/// Everything that draws text: the fonts (shared, read-only), a glyph cache
/// and the hinters for one size, and the characters found missing.
pub struct Fonts {
    chain: Arc<Chain>,
    pub names: Arc<Vec<String>>,
    pub px: f32,
    pub cell_w: u32,
    pub cell_h: u32,
    baseline: i32,
    hinting: Hinting,
    /// Each glyph and whether it stands for a missing character.
    cache: HashMap<GlyphKey, (Arc<Bitmap>, bool)>,
    hinters: HashMap<(usize, u32), Option<HintingInstance>>,
    missing: Missing,
}

impl Clone for Fonts {
    /// The same fonts and size, with an empty cache and nothing missing yet.
    fn clone(&self) -> Fonts {
        Fonts {
            chain: self.chain.clone(),
            names: self.names.clone(),
            px: self.px,
            cell_w: self.cell_w,
            cell_h: self.cell_h,
            baseline: self.baseline,
            hinting: self.hinting,
            cache: HashMap::new(),
            hinters: self.hinters.clone(),
            missing: Missing::default(),
        }
    }
}

impl Fonts {
    /// The embedded chain, behind `first` when given (a font file that
    /// cannot be used is an error naming it).
    pub fn load(first: Option<&FontSpec>) -> Result<Fonts, TermError> {
        let chain = match first {
            Some(spec) => {
                let face = spec.load().map_err(|e| TermError::Font(format!("the font given: {e}")))?;
                Chain::with_first(spec, face)
            }
            None => Chain::embedded(),
        };
        let mut fonts = Fonts {
            names: Arc::new(chain.names.clone()),
            chain: Arc::new(chain),
            px: 0.0,
            cell_w: 0,
            cell_h: 0,
            baseline: 0,
            hinting: Hinting::default(),
            cache: HashMap::new(),
            hinters: HashMap::new(),
            missing: Missing::default(),
        };
        fonts.set_px(DEFAULT_PX);
        Ok(fonts)
    }

    /// Sets the font size in px (the em), which fixes the cell size: the
    /// first font's advance (rounded), and its ascent plus descent.
    pub fn set_px(&mut self, px: f32) {
        let (advance, ascent, descent) = self.line_metrics(px);
        self.cell_w = (advance.round() as u32).max(1);
        self.cell_h = ((ascent - descent).ceil() as u32).max(1);
        self.baseline = ascent.round() as i32;
        self.px = px;
        self.cache.clear();
        self.hinters.clear();
    }

    /// The first font's advance of `M`, ascent and descent (negative) at `px`.
    fn line_metrics(&self, px: f32) -> (f32, f32, f32) {
        let guess = (px * 0.6, px * 0.8, -px * 0.2);
        let Some(font) = self.chain.faces[0].font() else { return guess };
        let size = Size::new(px);
        let metrics = font.metrics(size, LocationRef::default());
        let advance = font
            .charmap()
            .map('M')
            .and_then(|g| font.glyph_metrics(size, LocationRef::default()).advance_width(g));
        match advance {
            Some(advance) if metrics.ascent > metrics.descent => (advance, metrics.ascent, metrics.descent),
            _ => guess,
        }
    }

    /// The baseline's distance from the top of a cell, in pixels.
    pub fn baseline(&self) -> i32 {
        self.baseline
    }

    /// Chooses how outlines are hinted (the default is [`Hinting::Normal`]).
    pub fn set_hinting(&mut self, hinting: Hinting) {
        self.hinting = hinting;
        self.cache.clear();
        self.hinters.clear();
    }

    /// The characters drawn so far that no font has.
    pub fn missing(&self) -> &Missing {
        &self.missing
    }

    /// The largest size up to the default at which `cols x rows` cells fit
    /// in `max` pixels (the smallest size when none does).
    pub fn fit(&mut self, cols: u16, rows: u16, max: Option<(u32, u32)>) {
        let mut px = DEFAULT_PX;
        self.set_px(px);
        let Some((mw, mh)) = max else { return };
        while px > MIN_PX && (u32::from(cols) * self.cell_w > mw || u32::from(rows) * self.cell_h > mh) {
            px -= 0.5;
            self.set_px(px);
        }
    }

    /// The glyph of `ch` in the given style, spanning `cells` cells. Every
    /// call for a character no font has is counted in [`Fonts::missing`].
    pub fn glyph(&mut self, ch: char, bold: bool, italic: bool, cells: u8) -> Arc<Bitmap> {
        let key = (ch, u8::from(bold) | (u8::from(italic) << 1), cells);
        let (bitmap, missing) = match self.cache.get(&key) {
            Some(entry) => entry.clone(),
            None => {
                let (bitmap, missing) = self.rasterise(ch, bold, italic, cells.max(1));
                let entry = (Arc::new(bitmap), missing);
                if self.cache.len() > 20_000 {
                    self.cache.clear(); // a pathological recording: keep memory bounded
                }
                self.cache.insert(key, entry.clone());
                entry
            }
        };
        if missing {
            self.missing.note(ch);
        }
        bitmap
    }

    /// The glyph and whether `ch` was missing from every font.
    fn rasterise(&mut self, ch: char, bold: bool, italic: bool, cells: u8) -> (Bitmap, bool) {
        let style = usize::from(bold) | (usize::from(italic) << 1);
        let box_w = self.cell_w as i32 * i32::from(cells);
        let chain = self.chain.clone();
        // The styled face of the first font, then its regular face, then the fallbacks.
        if let Some(face) = chain.styled[style]
            && let Some(id) = chain.faces[face].glyph_id(ch)
        {
            return (self.designed(face, id, false), false);
        }
        if let Some(id) = chain.faces[0].glyph_id(ch) {
            return (self.designed(0, id, bold), false);
        }
        for &face in &chain.fallbacks {
            if let Some(id) = chain.faces[face].glyph_id(ch) {
                return (self.fitted(face, id, box_w, bold), false);
            }
        }
        if ch.is_whitespace() || ch.is_control() {
            return (Bitmap::default(), false);
        }
        let replacement = std::iter::once(0)
            .chain(chain.fallbacks.iter().copied())
            .find_map(|face| chain.faces[face].glyph_id('\u{fffd}').map(|id| (face, id)));
        let bitmap = match replacement {
            Some((0, id)) => self.designed(0, id, bold),
            Some((face, id)) => self.fitted(face, id, box_w, bold),
            None => Bitmap::default(),
        };
        (bitmap, true)
    }

    /// A first-font glyph: on the baseline at the cell's left edge, as designed.
    fn designed(&mut self, face: usize, id: GlyphId, embolden: bool) -> Bitmap {
        match self.outline(face, id, self.px) {
            Some(outline) => outline.rasterise(0, self.baseline, embolden),
            None => Bitmap::default(),
        }
    }

    /// A fallback glyph: hinted at a size at which it fits `box_w x cell_h`,
    /// centred on a whole pixel, and moved in whole pixels inside the cells.
    fn fitted(&mut self, face: usize, id: GlyphId, box_w: i32, embolden: bool) -> Bitmap {
        let box_h = self.cell_h as i32;
        let mut size = self.px;
        let Some(mut outline) = self.outline(face, id, size) else { return Bitmap::default() };
        // Hinting at a smaller size can round a glyph a pixel larger again: a few tries.
        for _ in 0..4 {
            let Some((l, t, r, b)) = outline.pixel_bounds() else { return Bitmap::default() };
            let shrink = (box_w as f32 / (r - l).max(1) as f32).min(box_h as f32 / (b - t).max(1) as f32);
            if shrink >= 1.0 || size <= 1.0 {
                break;
            }
            size = ((size * shrink * 4.0).floor() / 4.0).max(1.0);
            match self.outline(face, id, size) {
                Some(o) => outline = o,
                None => return Bitmap::default(),
            }
        }
        let Some((l, t, r, b)) = outline.pixel_bounds() else { return Bitmap::default() };
        let x = ((box_w as f32 - outline.advance) / 2.0).round() as i32;
        outline.rasterise(inside(x, l, r, box_w), inside(self.baseline, t, b, box_h), embolden)
    }

    /// The outline of glyph `id` of `face` at `size` px, hinted when the
    /// font can be, with its (hinted) advance.
    fn outline(&mut self, face: usize, id: GlyphId, size: f32) -> Option<Outline> {
        let chain = self.chain.clone();
        let face_ref = &chain.faces[face];
        let font = face_ref.font()?;
        let outlines = font.outline_glyphs();
        let glyph = outlines.get(id)?;
        let hinter = match self.hinting.target() {
            Some(target) => self
                .hinters
                .entry((face, size.to_bits()))
                .or_insert_with(|| make_hinter(face_ref, &outlines, size, target))
                .as_ref(),
            None => None,
        };
        let mut pen = Pen::default();
        let hinted = hinter.and_then(|h| glyph.draw(DrawSettings::hinted(h, false), &mut pen).ok());
        let metrics = match hinted {
            Some(metrics) => metrics,
            None => {
                pen = Pen::default();
                glyph.draw(DrawSettings::unhinted(Size::new(size), LocationRef::default()), &mut pen).ok()?
            }
        };
        pen.close_contour();
        let advance = metrics
            .advance_width
            .or_else(|| font.glyph_metrics(Size::new(size), LocationRef::default()).advance_width(id))
            .unwrap_or(0.0);
        Some(Outline { curves: pen.curves, advance })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_a_face() {
        assert_eq!(FontSpec::parse("/a/b.ttc#1"), FontSpec { path: "/a/b.ttc".into(), index: 1 });
        assert_eq!(FontSpec::parse("/a/b.ttf"), FontSpec { path: "/a/b.ttf".into(), index: 0 });
    }

    #[test]
    fn a_missing_font_is_a_clear_error() {
        let err = Fonts::load(Some(&FontSpec::parse("/nonexistent/font.ttf"))).err().expect("must fail");
        assert!(err.to_string().contains("/nonexistent/font.ttf"), "{err}");
    }

    #[test]
    fn every_embedded_face_parses_and_has_its_script() {
        let faces = embedded();
        for (face, probe) in faces.iter().zip(['A', 'A', 'A', 'A', '中']) {
            assert!(face.glyph_id(probe).is_some(), "{} lacks {probe}", face.name);
        }
        assert!(faces[0].glyph_id('中').is_none(), "DejaVu has no CJK: the fallback is used");
        let fonts = Fonts::load(None).unwrap();
        assert_eq!(*fonts.names, embedded_names());
        assert_eq!((fonts.cell_w, fonts.cell_h, fonts.baseline), (10, 19, 15), "DejaVu's 16 px cell");
    }

    #[test]
    fn missing_characters_are_counted_on_every_draw_and_named_once() {
        let mut fonts = Fonts::load(None).unwrap();
        for _ in 0..3 {
            fonts.glyph('\u{2800}', false, false, 1);
        }
        fonts.glyph('a', false, false, 1);
        fonts.glyph('中', false, false, 2);
        fonts.glyph('\u{1FAE0}', false, false, 2);
        assert_eq!(fonts.missing().count, 4);
        assert_eq!(fonts.missing().chars, vec!['\u{2800}', '\u{1FAE0}']);
        let text = fonts.missing().describe().unwrap();
        assert!(
            text.starts_with("4 characters have no glyph in any font (U+2800 '\u{2800}', U+1FAE0"),
            "{text}"
        );
        assert!(fonts.clone().missing().describe().is_none(), "a clone starts afresh");
    }

    #[test]
    fn hinted_latin_glyphs_sit_on_the_pixel_grid() {
        // DejaVu's instructions snap stems to whole pixels: fewer grey, part-covered pixels.
        let grey = |fonts: &mut Fonts| -> usize {
            "$ cat deploy.log | grep -n ERROR"
                .chars()
                .map(|c| {
                    fonts.glyph(c, false, false, 1).coverage.iter().filter(|&&v| v > 0 && v < 255).count()
                })
                .sum()
        };
        let mut fonts = Fonts::load(None).unwrap();
        let hinted = grey(&mut fonts);
        fonts.set_hinting(Hinting::Off);
        let unhinted = grey(&mut fonts);
        assert!(hinted * 10 < unhinted * 9, "grey pixels: hinted {hinted}, unhinted {unhinted}");
    }
}

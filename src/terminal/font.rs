//! Glyphs for the terminal picture: a monospace font with per-glyph fallback,
//! so CJK, kana, hangul, box drawing and block elements all render.
//!
//! The default chain uses Debian's packages: DejaVu Sans Mono
//! (`fonts-dejavu-core`: Latin, Greek, Cyrillic, box drawing, blocks) with
//! its bold and oblique faces, then WenQuanYi Micro Hei Mono
//! (`fonts-wqy-microhei`, face 1 of its `.ttc`: CJK, kana, hangul, full-width
//! punctuation), then Noto Sans Mono CJK (`fonts-noto-cjk`) when installed.
//! `--font` / `TERMINAL_FONT` puts another font first (`PATH` or
//! `PATH#FACE` for a collection); the chain stays behind it.
//!
//! A glyph from a fallback font is scaled down, if needed, to fit the cells
//! it occupies (two for a wide character) and centred there: CJK text is
//! never clipped and never overlaps its neighbours.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ab_glyph::{Font, FontVec, GlyphId, PxScale, ScaleFont, point};

use super::TermError;

/// The default font size: about what a desktop terminal shows.
pub const DEFAULT_PX: f32 = 16.0;
/// The smallest size used when fitting a large terminal into `--max-size`.
pub const MIN_PX: f32 = 6.0;

/// Fonts looked for when none is given, in fallback order.
pub const DEFAULT_CHAIN: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc#1",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc#5",
];

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

    fn load(&self) -> Result<FontVec, String> {
        let data = std::fs::read(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        FontVec::try_from_vec_and_index(data, self.index)
            .map_err(|e| format!("{} (face {}): not a usable font: {e}", self.path.display(), self.index))
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

/// Faces of the first font: regular, bold, italic, bold italic.
struct Family {
    faces: [Option<FontVec>; 4],
}

/// Everything that draws text: the loaded fonts (shared, read-only) and a
/// glyph cache for one size.
pub struct Fonts {
    family: Arc<Family>,
    fallbacks: Arc<Vec<FontVec>>,
    pub names: Arc<Vec<String>>,
    pub px: f32,
    pub cell_w: u32,
    pub cell_h: u32,
    baseline: f32,
    cache: HashMap<(char, u8, u8), Arc<Bitmap>>,
}

impl Clone for Fonts {
    fn clone(&self) -> Fonts {
        Fonts {
            family: self.family.clone(),
            fallbacks: self.fallbacks.clone(),
            names: self.names.clone(),
            px: self.px,
            cell_w: self.cell_w,
            cell_h: self.cell_h,
            baseline: self.baseline,
            cache: HashMap::new(),
        }
    }
}

fn em_scale(font: &FontVec, px: f32) -> PxScale {
    let upem = font.units_per_em().unwrap_or(1000.0);
    PxScale::from(px * font.height_unscaled() / upem)
}

/// The style faces beside a font file (`X.ttf` -> `X-Bold.ttf`, ...).
fn style_siblings(spec: &FontSpec) -> [Option<FontVec>; 3] {
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

impl Fonts {
    /// Loads `first` (or the default chain's first installed font) and the
    /// chain's other installed fonts as fallbacks.
    pub fn load(first: Option<&FontSpec>) -> Result<Fonts, TermError> {
        let chain: Vec<FontSpec> = DEFAULT_CHAIN.iter().map(|s| FontSpec::parse(s)).collect();
        let mut names = Vec::new();
        let (primary_spec, primary) = match first {
            Some(spec) => {
                let font = spec.load().map_err(|e| TermError::Font(format!("the font given: {e}")))?;
                (spec.clone(), font)
            }
            None => {
                let found = chain.iter().find_map(|s| s.load().ok().map(|f| (s.clone(), f)));
                found.ok_or_else(|| {
                    TermError::Font(format!(
                        "none of {} is installed; install the Debian packages fonts-dejavu-core and \
                         fonts-wqy-microhei, or set TERMINAL_FONT / --font to a monospace TTF/OTF",
                        chain.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                    ))
                })?
            }
        };
        names.push(primary_spec.to_string());
        let [bold, italic, bold_italic] = style_siblings(&primary_spec);
        let family = Family { faces: [Some(primary), bold, italic, bold_italic] };
        let mut fallbacks = Vec::new();
        for spec in chain.iter().filter(|s| **s != primary_spec) {
            if let Ok(font) = spec.load() {
                names.push(spec.to_string());
                fallbacks.push(font);
            }
        }
        let mut fonts = Fonts {
            family: Arc::new(family),
            fallbacks: Arc::new(fallbacks),
            names: Arc::new(names),
            px: 0.0,
            cell_w: 0,
            cell_h: 0,
            baseline: 0.0,
            cache: HashMap::new(),
        };
        fonts.set_px(DEFAULT_PX);
        Ok(fonts)
    }

    fn primary(&self) -> &FontVec {
        self.family.faces[0].as_ref().expect("the regular face is always loaded")
    }

    /// Sets the font size in px (the em), which fixes the cell size.
    pub fn set_px(&mut self, px: f32) {
        let font = self.primary();
        let scaled = font.as_scaled(em_scale(font, px));
        let advance = scaled.h_advance(font.glyph_id('M'));
        let height = scaled.ascent() - scaled.descent();
        let ascent = scaled.ascent();
        self.cell_w = (advance.round() as u32).max(1);
        self.cell_h = (height.ceil() as u32).max(1);
        self.baseline = ascent.round();
        self.px = px;
        self.cache.clear();
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

    /// The glyph of `ch` in the given style, spanning `cells` cells.
    pub fn glyph(&mut self, ch: char, bold: bool, italic: bool, cells: u8) -> Arc<Bitmap> {
        let key = (ch, u8::from(bold) | (u8::from(italic) << 1), cells);
        if let Some(b) = self.cache.get(&key) {
            return b.clone();
        }
        let bitmap = Arc::new(self.rasterise(ch, bold, italic, cells.max(1)));
        if self.cache.len() > 20_000 {
            self.cache.clear(); // a pathological recording: keep memory bounded
        }
        self.cache.insert(key, bitmap.clone());
        bitmap
    }

    fn rasterise(&self, ch: char, bold: bool, italic: bool, cells: u8) -> Bitmap {
        let style = usize::from(bold) | (usize::from(italic) << 1);
        let box_w = self.cell_w as f32 * f32::from(cells);
        // The styled face of the first font, then its regular face, then the fallbacks.
        if let Some(face) = self.family.faces[style].as_ref()
            && face.glyph_id(ch) != GlyphId(0)
        {
            return self.outline(face, ch, box_w, false, false);
        }
        let primary = self.primary();
        if primary.glyph_id(ch) != GlyphId(0) {
            return self.outline(primary, ch, box_w, false, bold);
        }
        for face in self.fallbacks.iter() {
            if face.glyph_id(ch) != GlyphId(0) {
                return self.outline(face, ch, box_w, true, bold);
            }
        }
        if ch.is_whitespace() || ch.is_control() {
            return Bitmap::default();
        }
        self.outline(primary, '\u{fffd}', box_w, false, bold)
    }

    /// Rasterises `ch` from `face`; a fallback glyph is fitted into the
    /// cells and centred, a first-font glyph sits on the baseline as designed.
    fn outline(&self, face: &FontVec, ch: char, box_w: f32, fit: bool, embolden: bool) -> Bitmap {
        let id = face.glyph_id(ch);
        let mut scale = em_scale(face, self.px);
        let place = |scale: PxScale, x: f32| id.with_scale_and_position(scale, point(x, self.baseline));
        let Some(mut outlined) = face.outline_glyph(place(scale, 0.0)) else {
            return Bitmap::default();
        };
        if fit {
            let b = outlined.px_bounds();
            let (w, h) = (b.width().max(1.0), b.height().max(1.0));
            let shrink = (box_w / w).min(self.cell_h as f32 / h).min(1.0);
            if shrink < 1.0 {
                scale = PxScale { x: scale.x * shrink, y: scale.y * shrink };
            }
            let advance = face.as_scaled(scale).h_advance(id);
            let x = ((box_w - advance) / 2.0).max(0.0);
            match face.outline_glyph(place(scale, x)) {
                Some(o) => outlined = o,
                None => return Bitmap::default(),
            }
            // Keep it inside the cells: shift back in whatever stuck out.
            let b = outlined.px_bounds();
            let dx = if b.min.x < 0.0 {
                -b.min.x
            } else if b.max.x > box_w {
                box_w - b.max.x
            } else {
                0.0
            };
            let dy = if b.min.y < 0.0 {
                -b.min.y
            } else if b.max.y > self.cell_h as f32 {
                self.cell_h as f32 - b.max.y
            } else {
                0.0
            };
            if dx != 0.0 || dy != 0.0 {
                let g = id.with_scale_and_position(scale, point(x + dx, self.baseline + dy));
                if let Some(o) = face.outline_glyph(g) {
                    outlined = o;
                }
            }
        }
        let b = outlined.px_bounds();
        let (w, h) = (b.width() as u32, b.height() as u32);
        let extra = u32::from(embolden);
        let mut coverage = vec![0u8; ((w + extra) * h) as usize];
        outlined.draw(|x, y, c| {
            let v = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
            let i = (y * (w + extra) + x) as usize;
            if let Some(p) = coverage.get_mut(i) {
                *p = (*p).max(v);
            }
            if embolden && let Some(p) = coverage.get_mut(i + 1) {
                *p = (*p).max(v);
            }
        });
        Bitmap { x: b.min.x as i32, y: b.min.y as i32, w: w + extra, h, coverage }
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
}

//! Cells to pixels: the terminal screen drawn into a premultiplied ARGB
//! picture, one cell `cell_w x cell_h` pixels, only the rows that changed.
//!
//! Each row is painted in two passes, backgrounds first and then glyphs, so
//! a glyph may reach into the next cell (a wide character's second cell is
//! never painted over it). Block elements are drawn as exact rectangles
//! (no gaps between rows); the cursor is a block in inverse colours, as
//! terminals show it, and only while the terminal shows it.

use crate::render::Surface;

use super::font::{Fonts, Missing};
use super::screen::{Cell, Screen};
use super::theme::{self, BACKGROUND, FOREGROUND, Rgb};

pub struct Raster {
    fonts: Fonts,
    canvas: Surface,
}

impl Raster {
    /// A picture of `size` pixels, all background.
    pub fn new(fonts: Fonts, size: (u32, u32)) -> Raster {
        let mut canvas = Surface::new(size.0, size.1);
        canvas.pixels_mut().fill(theme::pixel(BACKGROUND));
        Raster { fonts, canvas }
    }

    pub fn canvas(&self) -> &Surface {
        &self.canvas
    }

    /// The characters drawn so far that no font has.
    pub fn missing(&self) -> &Missing {
        self.fonts.missing()
    }

    pub fn cell_size(&self) -> (u32, u32) {
        (self.fonts.cell_w, self.fonts.cell_h)
    }

    /// Paints the area outside a terminal of `cols x rows` (after it shrank).
    pub fn clear_outside(&mut self, cols: usize, rows: usize) {
        let (cw, ch) = self.cell_size();
        let (w, h) = (self.canvas.width() as usize, self.canvas.height() as usize);
        let (tw, th) = ((cols * cw as usize).min(w), (rows * ch as usize).min(h));
        let bg = theme::pixel(BACKGROUND);
        let pixels = self.canvas.pixels_mut();
        for y in 0..h {
            let row = &mut pixels[y * w..(y + 1) * w];
            if y >= th {
                row.fill(bg);
            } else {
                row[tw..].fill(bg);
            }
        }
    }

    /// Redraws the given rows of `screen`.
    pub fn draw_rows(&mut self, screen: &Screen, rows: &[usize]) {
        let cursor = screen.cursor();
        for &row in rows {
            if let Some(line) = screen.line(row) {
                let cursor_col = cursor.filter(|c| c.1 == row).map(|c| c.0);
                self.draw_row(row, line.cells(), cursor_col);
            }
        }
    }

    fn colours(cell: &Cell, cursor: bool) -> (Rgb, Rgb) {
        let pen = cell.pen();
        let mut fg = theme::resolve(pen.foreground(), FOREGROUND, pen.is_bold());
        let mut bg = theme::resolve(pen.background(), BACKGROUND, false);
        if pen.is_inverse() != cursor {
            std::mem::swap(&mut fg, &mut bg);
        }
        if pen.is_faint() {
            fg = theme::mix(fg, bg, 110);
        }
        (fg, bg)
    }

    fn draw_row(&mut self, row: usize, cells: &[Cell], cursor_col: Option<usize>) {
        let (cw, ch) = self.cell_size();
        let (width, height) = (self.canvas.width() as usize, self.canvas.height() as usize);
        let y0 = row * ch as usize;
        if y0 + ch as usize > height {
            return;
        }
        let cols = cells.len().min(width / cw as usize);
        // A cursor on a wide character's head covers its tail too.
        let under_cursor = |col: usize| {
            cursor_col
                .is_some_and(|c| c == col || (c + 1 == col && cells.get(c).is_some_and(|h| h.width() == 2)))
        };
        for (col, cell) in cells.iter().enumerate().take(cols) {
            let (_, bg) = Self::colours(cell, under_cursor(col));
            self.fill(col * cw as usize, y0, cw as usize, ch as usize, theme::pixel(bg));
        }
        for (col, cell) in cells.iter().enumerate().take(cols) {
            let span = cell.width();
            if span == 0 {
                continue; // the second cell of a wide character: drawn with its head
            }
            let (fg, _) = Self::colours(cell, under_cursor(col));
            let x0 = col * cw as usize;
            let span_px = (usize::from(span) * cw as usize).min(width - x0);
            let c = cell.char();
            if c != ' ' {
                if let Some(parts) = block_element(c) {
                    for (fx0, fy0, fx1, fy1, alpha) in parts {
                        let px = |f: f32, n: usize| (f * n as f32).round() as usize;
                        let (bx, by) = (x0 + px(fx0, cw as usize), y0 + px(fy0, ch as usize));
                        let (bw, bh) = (
                            px(fx1, cw as usize) - px(fx0, cw as usize),
                            px(fy1, ch as usize) - px(fy0, ch as usize),
                        );
                        self.blend_rect(bx, by, bw, bh, fg, alpha);
                    }
                } else {
                    let pen = cell.pen();
                    let glyph = self.fonts.glyph(c, pen.is_bold(), pen.is_italic(), span);
                    self.blend_glyph(x0, y0, span_px, ch as usize, &glyph, fg);
                }
            }
            let pen = cell.pen();
            let thick = ((self.fonts.px / 14.0).round() as usize).max(1);
            if pen.is_underline() {
                self.blend_rect(x0, y0 + ch as usize - thick.max(1) - 1, span_px, thick, fg, 255);
            }
            if pen.is_strikethrough() {
                self.blend_rect(x0, y0 + ch as usize / 2, span_px, thick, fg, 255);
            }
        }
        // Past the end of the line (a line shorter than the picture).
        let end = cols * cw as usize;
        if end < width {
            self.fill(end, y0, width - end, ch as usize, theme::pixel(BACKGROUND));
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, pixel: u32) {
        let width = self.canvas.width() as usize;
        let height = self.canvas.height() as usize;
        let pixels = self.canvas.pixels_mut();
        for yy in y..(y + h).min(height) {
            let start = yy * width + x.min(width);
            let end = yy * width + (x + w).min(width);
            pixels[start..end].fill(pixel);
        }
    }

    fn blend_rect(&mut self, x: usize, y: usize, w: usize, h: usize, fg: Rgb, alpha: u8) {
        let width = self.canvas.width() as usize;
        let height = self.canvas.height() as usize;
        let pixels = self.canvas.pixels_mut();
        for yy in y..(y + h).min(height) {
            for xx in x..(x + w).min(width) {
                let p = &mut pixels[yy * width + xx];
                *p = theme::pixel(theme::mix(unpack(*p), fg, alpha));
            }
        }
    }

    /// Blends a glyph's coverage in `fg`, clipped to its cells.
    fn blend_glyph(
        &mut self,
        x0: usize,
        y0: usize,
        span_px: usize,
        ch: usize,
        glyph: &super::font::Bitmap,
        fg: Rgb,
    ) {
        let width = self.canvas.width() as usize;
        let pixels = self.canvas.pixels_mut();
        for gy in 0..glyph.h as usize {
            let y = glyph.y + gy as i32;
            if y < 0 || y as usize >= ch {
                continue;
            }
            let row = (y0 + y as usize) * width;
            for gx in 0..glyph.w as usize {
                let x = glyph.x + gx as i32;
                if x < 0 || x as usize >= span_px {
                    continue;
                }
                let cov = glyph.coverage[gy * glyph.w as usize + gx];
                if cov == 0 {
                    continue;
                }
                let p = &mut pixels[row + x0 + x as usize];
                *p = theme::pixel(theme::mix(unpack(*p), fg, cov));
            }
        }
    }
}

fn unpack(p: u32) -> Rgb {
    ((p >> 16) as u8, (p >> 8) as u8, p as u8)
}

/// A rectangle as fractions of the cell (x0, y0, x1, y1) and its alpha.
type Part = (f32, f32, f32, f32, u8);

/// The rectangles of a block element.
fn block_element(c: char) -> Option<Vec<Part>> {
    let full = |x0, y0, x1, y1| (x0, y0, x1, y1, 255u8);
    let (ul, ur, ll, lr) = (
        full(0.0, 0.0, 0.5, 0.5),
        full(0.5, 0.0, 1.0, 0.5),
        full(0.0, 0.5, 0.5, 1.0),
        full(0.5, 0.5, 1.0, 1.0),
    );
    Some(match c {
        '\u{2580}' => vec![full(0.0, 0.0, 1.0, 0.5)],
        '\u{2581}'..='\u{2588}' => {
            let eighths = (c as u32 - 0x2580) as f32;
            vec![full(0.0, 1.0 - eighths / 8.0, 1.0, 1.0)]
        }
        '\u{2589}'..='\u{258f}' => {
            let eighths = (0x2590 - c as u32) as f32;
            vec![full(0.0, 0.0, eighths / 8.0, 1.0)]
        }
        '\u{2590}' => vec![full(0.5, 0.0, 1.0, 1.0)],
        '\u{2591}' => vec![(0.0, 0.0, 1.0, 1.0, 64)],
        '\u{2592}' => vec![(0.0, 0.0, 1.0, 1.0, 128)],
        '\u{2593}' => vec![(0.0, 0.0, 1.0, 1.0, 192)],
        '\u{2594}' => vec![full(0.0, 0.0, 1.0, 0.125)],
        '\u{2595}' => vec![full(0.875, 0.0, 1.0, 1.0)],
        '\u{2596}' => vec![ll],
        '\u{2597}' => vec![lr],
        '\u{2598}' => vec![ul],
        '\u{2599}' => vec![ul, ll, lr],
        '\u{259a}' => vec![ul, lr],
        '\u{259b}' => vec![ul, ur, ll],
        '\u{259c}' => vec![ul, ur, lr],
        '\u{259d}' => vec![ur],
        '\u{259e}' => vec![ur, ll],
        '\u{259f}' => vec![ur, ll, lr],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_elements_fill_their_cell_fraction() {
        assert_eq!(block_element('\u{2588}'), Some(vec![(0.0, 0.0, 1.0, 1.0, 255)]));
        assert_eq!(block_element('\u{2584}'), Some(vec![(0.0, 0.5, 1.0, 1.0, 255)]));
        assert_eq!(block_element('\u{258c}'), Some(vec![(0.0, 0.0, 0.5, 1.0, 255)]));
        assert_eq!(block_element('a'), None);
    }
}

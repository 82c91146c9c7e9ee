//! A rectangle of premultiplied ARGB pixels and the drawing operations the
//! protocol needs on it: compositing another pixel source, filling a path of
//! rectangles, resizing while keeping content.

use super::composite::Operator;

/// An axis-aligned rectangle; may be empty or lie partly outside a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Rect {
    pub fn new(x: i64, y: i64, w: i64, h: i64) -> Rect {
        Rect { x, y, w: w.max(0), h: h.max(0) }
    }

    pub fn is_empty(&self) -> bool {
        self.w <= 0 || self.h <= 0
    }

    pub fn right(&self) -> i64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> i64 {
        self.y + self.h
    }

    pub fn intersect(&self, o: &Rect) -> Rect {
        let x = self.x.max(o.x);
        let y = self.y.max(o.y);
        Rect::new(x, y, self.right().min(o.right()) - x, self.bottom().min(o.bottom()) - y)
    }

    pub fn union(&self, o: &Rect) -> Rect {
        if self.is_empty() {
            return *o;
        }
        if o.is_empty() {
            return *self;
        }
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        Rect::new(x, y, self.right().max(o.right()) - x, self.bottom().max(o.bottom()) - y)
    }

    /// Whether all of `inner` lies inside this rectangle.
    pub fn contains_rect(&self, inner: &Rect) -> bool {
        inner.x >= self.x
            && inner.y >= self.y
            && inner.right() <= self.right()
            && inner.bottom() <= self.bottom()
    }

    fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x && x < self.right() && y >= self.y && y < self.bottom()
    }
}

/// Premultiplied ARGB pixels, row-major, `0xAARRGGBB` (BGRA bytes in memory
/// on little-endian machines, which is what ffmpeg's `bgra` expects).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Surface {
    width: u32,
    height: u32,
    pixels: Vec<u32>,
}

impl std::fmt::Debug for Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Surface({}x{})", self.width, self.height)
    }
}

impl Surface {
    /// A transparent surface.
    pub fn new(width: u32, height: u32) -> Surface {
        Surface { width, height, pixels: vec![0; width as usize * height as usize] }
    }

    pub fn from_pixels(width: u32, height: u32, pixels: Vec<u32>) -> Surface {
        assert_eq!(pixels.len(), width as usize * height as usize);
        Surface { width, height, pixels }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }

    pub fn pixels_mut(&mut self) -> &mut [u32] {
        &mut self.pixels
    }

    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, i64::from(self.width), i64::from(self.height))
    }

    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        self.pixels[(y * self.width + x) as usize]
    }

    /// Resizes, keeping the content at the top-left (what both guacenc and
    /// the browser player do).
    pub fn resize(&mut self, width: u32, height: u32) {
        if width == self.width && height == self.height {
            return;
        }
        let mut pixels = vec![0u32; width as usize * height as usize];
        let copy_w = self.width.min(width) as usize;
        for y in 0..self.height.min(height) as usize {
            let src = y * self.width as usize;
            let dst = y * width as usize;
            pixels[dst..dst + copy_w].copy_from_slice(&self.pixels[src..src + copy_w]);
        }
        self.width = width;
        self.height = height;
        self.pixels = pixels;
    }

    /// Copies `src_rect` of `src` to (dx, dy) with `op`. The source rectangle
    /// is clamped to the source, and the result to this surface. Unbounded
    /// operators clear everything outside the drawn rectangle.
    pub fn composite(&mut self, src: &Surface, src_rect: Rect, dx: i64, dy: i64, op: Operator) {
        let clamped = src_rect.intersect(&src.bounds());
        // Clamping the source moves the destination by the same amount.
        let (dx, dy) = (dx + clamped.x - src_rect.x, dy + clamped.y - src_rect.y);
        let src_rect = clamped;
        let dst_rect = Rect::new(dx, dy, src_rect.w, src_rect.h);
        let clipped = dst_rect.intersect(&self.bounds());
        if !clipped.is_empty() {
            let sx0 = src_rect.x + (clipped.x - dst_rect.x);
            let sy0 = src_rect.y + (clipped.y - dst_rect.y);
            for row in 0..clipped.h {
                let s = ((sy0 + row) * i64::from(src.width) + sx0) as usize;
                let d = ((clipped.y + row) * i64::from(self.width) + clipped.x) as usize;
                let n = clipped.w as usize;
                blend_row(&mut self.pixels[d..d + n], &src.pixels[s..s + n], op);
            }
        }
        if op.is_unbounded() {
            self.clear_outside(&|x, y| clipped.contains(x, y), clipped);
        }
    }

    /// Fills the union of `rects` with one premultiplied colour.
    pub fn fill(&mut self, rects: &[Rect], color: u32, op: Operator) {
        let bounds = self.bounds();
        let rects: Vec<Rect> = rects.iter().map(|r| r.intersect(&bounds)).filter(|r| !r.is_empty()).collect();
        let covered = |x: i64, y: i64| rects.iter().any(|r| r.contains(x, y));
        let hull = rects.iter().fold(Rect::new(0, 0, 0, 0), |a, r| a.union(r));
        if let [only] = rects.as_slice() {
            // The common case (guacd sends one rect per cfill): no span search.
            for y in only.y..only.bottom() {
                let row = (y * i64::from(self.width) + only.x) as usize;
                fill_row(&mut self.pixels[row..row + only.w as usize], color, op);
            }
            if op.is_unbounded() {
                self.clear_outside(&covered, hull);
            }
            return;
        }
        for y in hull.y..hull.bottom() {
            let row = (y * i64::from(self.width)) as usize;
            // Spans of this row covered by any rectangle, each pixel once.
            let mut x = hull.x;
            while x < hull.right() {
                if !covered(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < hull.right() && covered(x, y) {
                    x += 1;
                }
                let span = &mut self.pixels[row + start as usize..row + x as usize];
                fill_row(span, color, op);
            }
        }
        if op.is_unbounded() {
            self.clear_outside(&covered, hull);
        }
    }

    /// Clears pixels not covered by a shape; `hull` bounds the shape.
    fn clear_outside(&mut self, covered: &dyn Fn(i64, i64) -> bool, hull: Rect) {
        let w = i64::from(self.width);
        for y in 0..i64::from(self.height) {
            let row = &mut self.pixels[(y * w) as usize..((y + 1) * w) as usize];
            if y < hull.y || y >= hull.bottom() {
                row.fill(0);
                continue;
            }
            for (x, p) in row.iter_mut().enumerate() {
                let x = x as i64;
                if (x < hull.x || x >= hull.right()) || !covered(x, y) {
                    *p = 0;
                }
            }
        }
    }
}

fn blend_row(dst: &mut [u32], src: &[u32], op: Operator) {
    match op {
        Operator::Src => dst.copy_from_slice(src),
        _ => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = op.apply(s, *d);
            }
        }
    }
}

fn fill_row(dst: &mut [u32], color: u32, op: Operator) {
    let opaque_over = op == Operator::Over && color >> 24 == 255;
    if op == Operator::Src || opaque_over {
        dst.fill(color);
    } else {
        for d in dst {
            *d = op.apply(color, *d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: u32 = 0xFFFF0000;
    const BLUE: u32 = 0xFF0000FF;

    fn solid(w: u32, h: u32, c: u32) -> Surface {
        Surface::from_pixels(w, h, vec![c; (w * h) as usize])
    }

    #[test]
    fn resize_keeps_top_left_content() {
        let mut s = solid(2, 2, RED);
        s.resize(3, 1);
        assert_eq!(s.pixels(), [RED, RED, 0]);
    }

    #[test]
    fn composite_clamps_source_and_destination() {
        let mut dst = solid(4, 4, BLUE);
        let src = solid(2, 2, RED);
        // Source rect larger than the source and destination partly outside.
        dst.composite(&src, Rect::new(-1, 0, 5, 5), 2, 3, Operator::Over);
        assert_eq!(dst.pixel(3, 3), RED);
        assert_eq!(dst.pixel(2, 3), BLUE);
        assert_eq!(dst.pixels().iter().filter(|&&p| p == RED).count(), 1);
    }

    #[test]
    fn fill_counts_overlapping_rectangles_once() {
        let mut s = Surface::new(4, 1);
        let half = 0x80800000;
        s.fill(&[Rect::new(0, 0, 3, 1), Rect::new(1, 0, 3, 1)], half, Operator::Over);
        assert!(s.pixels().iter().all(|&p| p == half));
    }

    #[test]
    fn unbounded_operators_clear_outside_the_shape() {
        let mut s = solid(3, 1, BLUE);
        s.fill(&[Rect::new(1, 0, 1, 1)], RED, Operator::In);
        assert_eq!(s.pixels(), [0, RED, 0]);
        let mut s = solid(3, 1, BLUE);
        s.composite(&solid(1, 1, RED), Rect::new(0, 0, 1, 1), 0, 0, Operator::Src);
        assert_eq!(s.pixels(), [RED, 0, 0]);
    }

    #[test]
    fn bounded_operators_leave_outside_alone() {
        let mut s = solid(3, 1, BLUE);
        s.fill(&[Rect::new(1, 0, 1, 1)], RED, Operator::ReverseOut);
        assert_eq!(s.pixels(), [BLUE, 0, BLUE]);
    }
}

//! The remote display as the browser player models it: visible layers
//! (index >= 0, arranged in a tree under layer 0) and off-screen buffers
//! (index < 0, growing to fit what is drawn on them), plus the cursor.
//!
//! Every drawing instruction lands here. Where guacenc and the reference
//! player (guacamole-common-js) differ, this follows the player: siblings
//! with a higher z are drawn on top, the cursor is never clipped by child
//! layers, and compositing operators behave as on an HTML canvas.

use std::collections::HashMap;

use super::composite::{Operator, premultiply, scale};
use super::damage::Damage;
use super::limits::{Limits, SurfaceBudget};
use super::surface::{Rect, Surface};
use super::transfer::apply_transfer;
use crate::guac::LayerIndex;

/// Something in the recording that could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    /// The instruction is skipped; rendering goes on.
    #[error("{0}")]
    Skipped(String),
    /// The recording asks for more memory than the limits allow.
    #[error("{0}")]
    TooLarge(String),
}

struct Layer {
    /// Unique for the life of the display, so a disposed parent's children
    /// stay detached even when the index is reused (as in the browser).
    id: u64,
    surface: Surface,
    parent: Option<u64>,
    x: i64,
    y: i64,
    z: i64,
    opacity: u8,
    /// Order of attachment to the parent, the tie-break between equal z.
    attached: u64,
    path: Vec<Rect>,
    path_closed: bool,
}

struct Cursor {
    image: Surface,
    hotspot: (i64, i64),
}

pub struct Display {
    layers: HashMap<LayerIndex, Layer>,
    cursor: Cursor,
    mouse: Option<(i64, i64)>,
    next_id: u64,
    budget: SurfaceBudget,
    /// Counts changes to visible layers and the cursor image (not pointer
    /// moves): the player uses it to tell a half-drawn frame.
    revision: u64,
    /// What [`Display::compose`] must redraw of the canvas it was last given.
    damage: Damage,
}

impl Display {
    pub fn new(limits: Limits) -> Display {
        let mut display = Display {
            layers: HashMap::new(),
            cursor: Cursor { image: Surface::new(0, 0), hotspot: (0, 0) },
            mouse: None,
            next_id: 0,
            budget: SurfaceBudget::new(limits),
            revision: 0,
            damage: Damage::full(),
        };
        display.layer_mut(0).expect("layer 0 is always valid");
        display
    }

    /// Size of the default layer (the remote screen).
    pub fn size(&self) -> (u32, u32) {
        let s = &self.layers[&0].surface;
        (s.width(), s.height())
    }

    pub fn limits(&self) -> &Limits {
        self.budget.limits()
    }

    fn layer_mut(&mut self, index: LayerIndex) -> Result<&mut Layer, DrawError> {
        self.budget.limits().check_index(index)?;
        if !self.layers.contains_key(&index) {
            self.next_id += 1;
            let layer = Layer {
                id: self.next_id,
                surface: Surface::new(0, 0),
                parent: (index > 0).then(|| self.layers.get(&0).map(|l| l.id)).flatten(),
                x: 0,
                y: 0,
                z: 0,
                opacity: 255,
                attached: self.next_id,
                path: Vec::new(),
                path_closed: false,
            };
            self.layers.insert(index, layer);
        }
        Ok(self.layers.get_mut(&index).expect("just inserted"))
    }

    /// Counts a change to a visible layer; buffers are off-screen, so
    /// drawing on them changes nothing visible. (Where the picture changed
    /// is the damage, recorded beside each call.)
    fn touch(&mut self, index: LayerIndex) {
        if index >= 0 {
            self.revision += 1;
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Marks `local` (in the layer's own coordinates) of a layer as changed
    /// on screen, wherever the layer tree puts it.
    fn damage_layer(&mut self, index: LayerIndex, local: Rect) {
        if index < 0 {
            return;
        }
        let Some(layer) = self.layers.get(&index) else { return };
        let r = local.intersect(&layer.surface.bounds());
        match self.placement(index) {
            Placement::At(x, y) => self.damage.add(Rect::new(r.x + x, r.y + y, r.w, r.h)),
            Placement::Hidden => {}
            Placement::Unknown => self.damage.add_full(),
        }
    }

    /// Marks the whole of a layer as changed (unbounded operators clear
    /// what they do not draw).
    fn damage_whole_layer(&mut self, index: LayerIndex) {
        if let Some(layer) = self.layers.get(&index) {
            let bounds = layer.surface.bounds();
            self.damage_layer(index, bounds);
        }
    }

    /// Where a visible layer's top-left is on screen, following its parents
    /// up to layer 0 as [`draw_tree`] does.
    fn placement(&self, index: LayerIndex) -> Placement {
        let root = self.layers[&0].id;
        let Some(mut layer) = self.layers.get(&index) else { return Placement::Hidden };
        let (mut x, mut y) = (0, 0);
        for _ in 0..=MAX_DEPTH {
            if layer.id == root {
                return Placement::At(x, y);
            }
            (x, y) = (x + layer.x, y + layer.y);
            let Some(parent) = layer.parent else { return Placement::Hidden };
            match self.layers.values().find(|l| l.id == parent) {
                Some(p) => layer = p,
                None => return Placement::Hidden,
            }
        }
        Placement::Unknown
    }

    /// Where the cursor image is on screen, if the pointer is.
    fn cursor_rect(&self) -> Rect {
        match self.mouse {
            Some((mx, my)) => {
                let c = &self.cursor;
                let (w, h) = (i64::from(c.image.width()), i64::from(c.image.height()));
                Rect::new(mx - c.hotspot.0, my - c.hotspot.1, w, h)
            }
            None => Rect::new(0, 0, 0, 0),
        }
    }

    fn resize_layer(&mut self, index: LayerIndex, w: u32, h: u32) -> Result<(), DrawError> {
        let old = self.layer_mut(index)?.surface.area();
        self.budget.resize(old, w, h)?;
        self.layer_mut(index)?.surface.resize(w, h);
        self.touch(index);
        if index >= 0 {
            self.damage.add_full();
        }
        Ok(())
    }

    /// Buffers grow to contain whatever is drawn on them; layers do not.
    fn fit(&mut self, index: LayerIndex, r: Rect) -> Result<(), DrawError> {
        if index >= 0 || r.is_empty() {
            return Ok(());
        }
        let s = &self.layer_mut(index)?.surface;
        let w = r.right().max(i64::from(s.width()));
        let h = r.bottom().max(i64::from(s.height()));
        if w > i64::from(s.width()) || h > i64::from(s.height()) {
            let (w, h) = self.budget.limits().check_size(w, h)?;
            self.resize_layer(index, w, h)?;
        }
        Ok(())
    }

    pub fn size_layer(&mut self, index: LayerIndex, w: i32, h: i32) -> Result<(), DrawError> {
        let (w, h) = self.budget.limits().check_size(i64::from(w.max(0)), i64::from(h.max(0)))?;
        self.resize_layer(index, w, h)
    }

    /// Draws a decoded image at (x, y) of a layer.
    pub fn draw_image(
        &mut self,
        index: LayerIndex,
        mask: i32,
        x: i32,
        y: i32,
        image: &Surface,
    ) -> Result<(), DrawError> {
        let (x, y) = (i64::from(x), i64::from(y));
        self.fit(index, Rect::new(x, y, image.width().into(), image.height().into()))?;
        let op = Operator::from_mask(mask);
        let layer = self.layer_mut(index)?;
        layer.surface.composite(image, image.bounds(), x, y, op);
        self.touch(index);
        self.damage_drawn(index, op, Rect::new(x, y, image.width().into(), image.height().into()));
        Ok(())
    }

    /// `copy`: a rectangle of one layer onto another (or itself).
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &mut self,
        src: LayerIndex,
        src_rect: Rect,
        mask: i32,
        dst: LayerIndex,
        dx: i32,
        dy: i32,
    ) -> Result<(), DrawError> {
        let Some((source, src_rect, dx, dy)) = self.source_region(src, src_rect, dst, dx, dy)? else {
            return Ok(());
        };
        let op = Operator::from_mask(mask);
        let layer = self.layer_mut(dst)?;
        layer.surface.composite(&source, src_rect, dx, dy, op);
        self.touch(dst);
        self.damage_drawn(dst, op, Rect::new(dx, dy, src_rect.w, src_rect.h));
        Ok(())
    }

    /// `transfer`: a rectangle combined pixel by pixel with a raster function.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer(
        &mut self,
        src: LayerIndex,
        src_rect: Rect,
        function: i32,
        dst: LayerIndex,
        dx: i32,
        dy: i32,
    ) -> Result<(), DrawError> {
        let Some((source, src_rect, dx, dy)) = self.source_region(src, src_rect, dst, dx, dy)? else {
            return Ok(());
        };
        let layer = self.layer_mut(dst)?;
        apply_transfer(&mut layer.surface, &source, src_rect, dx, dy, function);
        self.touch(dst);
        self.damage_layer(dst, Rect::new(dx, dy, src_rect.w, src_rect.h));
        Ok(())
    }

    /// Clamps a source rectangle as the player does, grows a buffer
    /// destination to fit, and returns a copy of the source pixels (so a
    /// layer can be copied onto itself safely).
    fn source_region(
        &mut self,
        src: LayerIndex,
        r: Rect,
        dst: LayerIndex,
        dx: i32,
        dy: i32,
    ) -> Result<Option<(Surface, Rect, i64, i64)>, DrawError> {
        let bounds = self.layer_mut(src)?.surface.bounds();
        let clamped = r.intersect(&bounds);
        if clamped.is_empty() {
            return Ok(None);
        }
        let dx = i64::from(dx) + clamped.x - r.x;
        let dy = i64::from(dy) + clamped.y - r.y;
        self.fit(dst, Rect::new(dx, dy, clamped.w, clamped.h))?;
        let source = &self.layers[&src].surface;
        let mut region = Surface::new(clamped.w as u32, clamped.h as u32);
        region.composite(source, clamped, 0, 0, Operator::Src);
        let local = Rect::new(0, 0, clamped.w, clamped.h);
        Ok(Some((region, local, dx, dy)))
    }

    /// `rect`: adds a rectangle to the layer's current path.
    pub fn rect(&mut self, index: LayerIndex, r: Rect) -> Result<(), DrawError> {
        self.fit(index, r)?;
        let layer = self.layer_mut(index)?;
        if layer.path_closed {
            layer.path.clear();
            layer.path_closed = false;
        }
        layer.path.push(r);
        Ok(())
    }

    /// `cfill`: fills the current path with a colour.
    pub fn cfill(&mut self, mask: i32, index: LayerIndex, rgba: [u8; 4]) -> Result<(), DrawError> {
        let layer = self.layer_mut(index)?;
        let color = premultiply(rgba[0], rgba[1], rgba[2], rgba[3]);
        let op = Operator::from_mask(mask);
        layer.surface.fill(&layer.path, color, op);
        layer.path_closed = true;
        let hull = layer.path.iter().fold(Rect::new(0, 0, 0, 0), |a, r| a.union(r));
        self.touch(index);
        self.damage_drawn(index, op, hull);
        Ok(())
    }

    /// `move`: re-parents and positions a visible layer.
    pub fn move_layer(
        &mut self,
        index: LayerIndex,
        parent: LayerIndex,
        x: i32,
        y: i32,
        z: i32,
    ) -> Result<(), DrawError> {
        if index <= 0 || parent < 0 {
            return Err(DrawError::Skipped(format!(
                "cannot move layer {index} under {parent}: only layers above 0 move, under visible layers"
            )));
        }
        let parent_id = self.layer_mut(parent)?.id;
        let moved_id = self.layer_mut(index)?.id;
        if self.is_ancestor(moved_id, parent_id) {
            return Err(DrawError::Skipped(format!(
                "moving layer {index} under {parent} would make a cycle"
            )));
        }
        self.next_id += 1;
        let attached = self.next_id;
        let layer = self.layer_mut(index)?;
        layer.parent = Some(parent_id);
        (layer.x, layer.y, layer.z) = (x.into(), y.into(), z.into());
        layer.attached = attached;
        self.touch(index);
        self.damage.add_full();
        Ok(())
    }

    /// Whether `ancestor` is `id` or one of its ancestors.
    fn is_ancestor(&self, ancestor: u64, mut id: u64) -> bool {
        let parents: HashMap<u64, Option<u64>> = self.layers.values().map(|l| (l.id, l.parent)).collect();
        for _ in 0..=parents.len() {
            if id == ancestor {
                return true;
            }
            match parents.get(&id).copied().flatten() {
                Some(p) => id = p,
                None => return false,
            }
        }
        true
    }

    pub fn shade(&mut self, index: LayerIndex, opacity: u8) -> Result<(), DrawError> {
        self.layer_mut(index)?.opacity = opacity;
        self.touch(index);
        if index >= 0 {
            self.damage.add_full();
        }
        Ok(())
    }

    pub fn dispose(&mut self, index: LayerIndex) -> Result<(), DrawError> {
        self.budget.limits().check_index(index)?;
        if index == 0 {
            return Err(DrawError::Skipped("the default layer cannot be disposed".into()));
        }
        if let Some(layer) = self.layers.remove(&index) {
            self.budget.release(layer.surface.area());
            self.touch(index);
            if index >= 0 {
                self.damage.add_full();
            }
        }
        Ok(())
    }

    /// `cursor`: the cursor image becomes a copy of a rectangle of a layer.
    pub fn set_cursor(&mut self, hotspot: (i32, i32), src: LayerIndex, r: Rect) -> Result<(), DrawError> {
        let (w, h) = self.budget.limits().check_size(r.w, r.h)?;
        let old = self.cursor.image.area();
        self.budget.resize(old, w, h)?;
        let mut image = Surface::new(w, h);
        let source = &self.layer_mut(src)?.surface;
        image.composite(source, r, 0, 0, Operator::Src);
        self.damage.add(self.cursor_rect());
        self.cursor = Cursor { image, hotspot: (hotspot.0.into(), hotspot.1.into()) };
        self.damage.add(self.cursor_rect());
        self.touch(0);
        Ok(())
    }

    pub fn move_mouse(&mut self, x: i32, y: i32) {
        let pos = Some((i64::from(x), i64::from(y)));
        if self.mouse != pos {
            self.damage.add(self.cursor_rect());
            self.mouse = pos;
            self.damage.add(self.cursor_rect());
        }
    }

    /// Brings `canvas` up to date: redraws what changed since the last call
    /// (all of it the first time). The canvas must be the same one each
    /// time; a new one needs [`Display::compose_all`]. Returns `false` when
    /// no pixel changed, so an unchanged picture is never compared whole;
    /// `true` when some did, or when the damage covers so much of the screen
    /// that checking would cost more than the consumer's own comparison.
    pub fn compose(&mut self, canvas: &mut Surface) -> bool {
        let damage = std::mem::replace(&mut self.damage, Damage::none());
        let regions = damage.within(canvas.bounds());
        let damaged: i64 = regions.iter().map(|r| r.w * r.h).sum();
        if damaged * 4 > canvas.bounds().w * canvas.bounds().h {
            self.compose_regions(canvas, &regions);
            return true;
        }
        let before: Vec<Vec<u32>> = regions.iter().map(|r| region_pixels(canvas, *r)).collect();
        self.compose_regions(canvas, &regions);
        regions.iter().zip(&before).any(|(r, old)| !region_equals(canvas, *r, old))
    }

    /// Flattens the whole display onto `canvas`.
    pub fn compose_all(&self, canvas: &mut Surface) {
        let bounds = canvas.bounds();
        self.compose_regions(canvas, &[bounds]);
    }

    /// Flattens the display onto `regions` of `canvas` (black where nothing
    /// is drawn): layer 0 at the top-left, its children by ascending z,
    /// opacity multiplied down the tree, then the cursor. Each pixel depends
    /// only on the layers above it, so a region comes out exactly as it
    /// would in a whole flattening.
    fn compose_regions(&self, canvas: &mut Surface, regions: &[Rect]) {
        if regions.is_empty() {
            return;
        }
        let mut children: HashMap<u64, Vec<&Layer>> = HashMap::new();
        for layer in self.layers.values() {
            if let Some(parent) = layer.parent {
                children.entry(parent).or_default().push(layer);
            }
        }
        for list in children.values_mut() {
            list.sort_by_key(|l| (l.z, l.attached));
        }
        let root = &self.layers[&0];
        for &clip in regions {
            fill_black(canvas, clip);
            draw_tree(canvas, clip, root, &children, 0, 0, 255, 0);
            if let Some((mx, my)) = self.mouse {
                let c = &self.cursor;
                draw_over(canvas, clip, &c.image, mx - c.hotspot.0, my - c.hotspot.1, 255);
            }
        }
    }

    /// Damage from drawing `r` on a layer with `op`.
    fn damage_drawn(&mut self, index: LayerIndex, op: Operator, r: Rect) {
        if op.is_unbounded() {
            self.damage_whole_layer(index);
        } else {
            self.damage_layer(index, r);
        }
    }
}

/// Where a layer is drawn on screen.
enum Placement {
    At(i64, i64),
    /// Not under layer 0: never drawn.
    Hidden,
    /// Deeper than the tree is drawn: assume anything.
    Unknown,
}

/// Depth guard: the tree cannot have cycles, but a bound costs nothing.
const MAX_DEPTH: usize = 256;

#[allow(clippy::too_many_arguments)]
fn draw_tree(
    canvas: &mut Surface,
    clip: Rect,
    layer: &Layer,
    children: &HashMap<u64, Vec<&Layer>>,
    x: i64,
    y: i64,
    alpha: u32,
    depth: usize,
) {
    if layer.surface.area() == 0 || depth > MAX_DEPTH {
        return;
    }
    let alpha = super::composite::mul255(alpha, layer.opacity.into());
    if depth == 0 {
        draw_root(canvas, clip, &layer.surface, alpha);
    } else {
        draw_over(canvas, clip, &layer.surface, x, y, alpha);
    }
    for child in children.get(&layer.id).into_iter().flatten() {
        draw_tree(canvas, clip, child, children, x + child.x, y + child.y, alpha, depth + 1);
    }
}

/// Where each row of `r` (inside the canvas) lies in the canvas's pixels.
fn row_spans(canvas: &Surface, r: Rect) -> impl Iterator<Item = std::ops::Range<usize>> + use<> {
    let (cw, x, w) = (canvas.width() as usize, r.x as usize, r.w as usize);
    (r.y as usize..r.bottom() as usize).map(move |row| row * cw + x..row * cw + x + w)
}

/// A copy of the pixels of `r`, row by row.
fn region_pixels(canvas: &Surface, r: Rect) -> Vec<u32> {
    row_spans(canvas, r).flat_map(|span| canvas.pixels()[span].iter().copied()).collect()
}

/// Whether the pixels of `r` are `old` (as [`region_pixels`] copied them).
fn region_equals(canvas: &Surface, r: Rect, old: &[u32]) -> bool {
    row_spans(canvas, r).zip(old.chunks(r.w.max(1) as usize)).all(|(span, was)| canvas.pixels()[span] == *was)
}

/// Opaque black over `clip` of the canvas: where nothing is drawn.
fn fill_black(canvas: &mut Surface, clip: Rect) {
    for span in row_spans(canvas, clip) {
        canvas.pixels_mut()[span].fill(0xFF00_0000);
    }
}

/// Paints the default layer onto `clip` of the freshly blackened canvas.
/// OVER onto opaque black keeps the premultiplied colour and makes it
/// opaque, so this is a copy that sets alpha: the hot path of every frame.
fn draw_root(canvas: &mut Surface, clip: Rect, src: &Surface, alpha: u32) {
    let area = clip.intersect(&src.bounds());
    if area.is_empty() {
        return;
    }
    let (cw, sw) = (canvas.width() as usize, src.width() as usize);
    let (x0, n) = (area.x as usize, area.w as usize);
    for row in area.y as usize..area.bottom() as usize {
        let out = &mut canvas.pixels_mut()[row * cw + x0..row * cw + x0 + n];
        let input = &src.pixels()[row * sw + x0..row * sw + x0 + n];
        if alpha == 255 {
            for (o, &p) in out.iter_mut().zip(input) {
                *o = p | 0xFF00_0000;
            }
        } else {
            for (o, &p) in out.iter_mut().zip(input) {
                *o = scale(p, alpha) | 0xFF00_0000;
            }
        }
    }
}

/// Paints `src` at (x, y) with OVER and a global alpha, clipped to `clip`
/// (which lies inside the canvas).
fn draw_over(canvas: &mut Surface, clip: Rect, src: &Surface, x: i64, y: i64, alpha: u32) {
    if alpha == 0 {
        return;
    }
    let dst = Rect::new(x, y, src.width().into(), src.height().into()).intersect(&clip);
    if dst.is_empty() {
        return;
    }
    let cw = i64::from(canvas.width());
    let sw = i64::from(src.width());
    for row in 0..dst.h {
        let d = ((dst.y + row) * cw + dst.x) as usize;
        let s = ((dst.y - y + row) * sw + (dst.x - x)) as usize;
        let n = dst.w as usize;
        let (out, input) = (&mut canvas.pixels_mut()[d..d + n], &src.pixels()[s..s + n]);
        for (o, &p) in out.iter_mut().zip(input) {
            let p = if alpha == 255 { p } else { scale(p, alpha) };
            *o = Operator::Over.apply(p, *o);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One instruction of a random session on a small screen.
    #[derive(Debug, Clone)]
    enum Op {
        Image { layer: i32, mask: i32, x: i32, y: i32, w: u32, h: u32, color: u32 },
        Copy { src: i32, dst: i32, r: (i64, i64, i64, i64), mask: i32, dx: i32, dy: i32 },
        Transfer { src: i32, dst: i32, r: (i64, i64, i64, i64), function: i32, dx: i32, dy: i32 },
        Fill { layer: i32, rects: Vec<(i64, i64, i64, i64)>, mask: i32, rgba: [u8; 4] },
        Size { layer: i32, w: i32, h: i32 },
        Move { layer: i32, parent: i32, x: i32, y: i32, z: i32 },
        Shade { layer: i32, opacity: u8 },
        Dispose { layer: i32 },
        Cursor { hotspot: (i32, i32), src: i32, r: (i64, i64, i64, i64) },
        Mouse { x: i32, y: i32 },
    }

    const MASKS: [i32; 11] = [0xC, 0xE, 0x4, 0x8, 0x6, 0xB, 0x1, 0x2, 0x9, 0xA, 0xF];

    fn layer() -> impl Strategy<Value = i32> {
        -2..=3i32
    }

    fn mask() -> impl Strategy<Value = i32> {
        prop::sample::select(MASKS.to_vec())
    }

    fn rect() -> impl Strategy<Value = (i64, i64, i64, i64)> {
        (-6..40i64, -6..40i64, 0..20i64, 0..20i64)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (layer(), mask(), -6..40i32, -6..40i32, 1..16u32, 1..16u32, any::<u32>())
                .prop_map(|(layer, mask, x, y, w, h, color)| Op::Image { layer, mask, x, y, w, h, color }),
            2 => (layer(), layer(), rect(), mask(), -6..40i32, -6..40i32)
                .prop_map(|(src, dst, r, mask, dx, dy)| Op::Copy { src, dst, r, mask, dx, dy }),
            1 => (layer(), layer(), rect(), 0..16i32, -6..40i32, -6..40i32)
                .prop_map(|(src, dst, r, function, dx, dy)| Op::Transfer { src, dst, r, function, dx, dy }),
            3 => (layer(), prop::collection::vec(rect(), 1..3), mask(), any::<[u8; 4]>())
                .prop_map(|(layer, rects, mask, rgba)| Op::Fill { layer, rects, mask, rgba }),
            1 => (layer(), 0..40i32, 0..40i32).prop_map(|(layer, w, h)| Op::Size { layer, w, h }),
            1 => (1..=3i32, 0..=3i32, -10..30i32, -10..30i32, -2..=2i32)
                .prop_map(|(layer, parent, x, y, z)| Op::Move { layer, parent, x, y, z }),
            1 => (layer(), any::<u8>()).prop_map(|(layer, opacity)| Op::Shade { layer, opacity }),
            1 => layer().prop_map(|layer| Op::Dispose { layer }),
            1 => ((-3..6i32, -3..6i32), layer(), rect())
                .prop_map(|(hotspot, src, r)| Op::Cursor { hotspot, src, r }),
            3 => (-10..50i32, -10..50i32).prop_map(|(x, y)| Op::Mouse { x, y }),
        ]
    }

    fn r((x, y, w, h): (i64, i64, i64, i64)) -> Rect {
        Rect::new(x, y, w, h)
    }

    fn apply(d: &mut Display, op: &Op) {
        let _ = match op.clone() {
            Op::Image { layer, mask, x, y, w, h, color } => {
                let pixels = (0..w * h).map(|i| color.rotate_left(i)).collect();
                d.draw_image(layer, mask, x, y, &Surface::from_pixels(w, h, pixels))
            }
            Op::Copy { src, dst, r: s, mask, dx, dy } => d.copy(src, r(s), mask, dst, dx, dy),
            Op::Transfer { src, dst, r: s, function, dx, dy } => d.transfer(src, r(s), function, dst, dx, dy),
            Op::Fill { layer, rects, mask, rgba } => {
                for rc in rects {
                    let _ = d.rect(layer, r(rc));
                }
                d.cfill(mask, layer, rgba)
            }
            Op::Size { layer, w, h } => d.size_layer(layer, w, h),
            Op::Move { layer, parent, x, y, z } => d.move_layer(layer, parent, x, y, z),
            Op::Shade { layer, opacity } => d.shade(layer, opacity),
            Op::Dispose { layer } => d.dispose(layer),
            Op::Cursor { hotspot, src, r: s } => d.set_cursor(hotspot, src, r(s)),
            Op::Mouse { x, y } => {
                d.move_mouse(x, y);
                Ok(())
            }
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Recomposing only the damage gives, after every instruction, the
        /// very pixels of flattening everything: a stale pixel in a frame
        /// would be a recording shown wrong.
        #[test]
        fn composing_the_damage_equals_composing_everything(ops in prop::collection::vec(op(), 1..40)) {
            let mut display = Display::new(Limits::default());
            display.size_layer(0, 32, 28).unwrap();
            let mut kept = Surface::new(36, 30);
            for (i, op) in ops.iter().enumerate() {
                apply(&mut display, op);
                let previous = kept.clone();
                let changed = display.compose(&mut kept);
                let mut whole = Surface::new(36, 30);
                display.compose_all(&mut whole);
                prop_assert!(kept.pixels() == whole.pixels(), "after op {} ({:?})", i, op);
                // Unchanged pictures are told apart; a large change may be
                // reported without a check.
                prop_assert!(changed || previous == kept, "a change went unreported after op {} ({:?})", i, op);
            }
        }
    }

    #[test]
    fn small_changes_are_told_from_no_change() {
        let mut display = Display::new(Limits::default());
        display.size_layer(0, 100, 100).unwrap();
        let mut canvas = Surface::new(100, 100);
        assert!(display.compose(&mut canvas), "the first picture");
        let dot = Surface::from_pixels(1, 1, vec![0xFF00_FF00]);
        display.draw_image(0, 0xE, 5, 5, &dot).unwrap();
        assert!(display.compose(&mut canvas), "a new dot");
        display.draw_image(0, 0xE, 5, 5, &dot).unwrap();
        assert!(!display.compose(&mut canvas), "the same dot again changes nothing");
    }

    #[test]
    fn a_pointer_move_damages_only_where_the_cursor_was_and_is() {
        let mut display = Display::new(Limits::default());
        display.size_layer(0, 100, 100).unwrap();
        display.draw_image(-1, 0xC, 0, 0, &Surface::from_pixels(2, 2, vec![0xFFFF_FFFF; 4])).unwrap();
        display.set_cursor((0, 0), -1, Rect::new(0, 0, 2, 2)).unwrap();
        let mut canvas = Surface::new(100, 100);
        display.compose(&mut canvas);
        display.move_mouse(10, 10);
        display.move_mouse(50, 60);
        assert_eq!(
            display.damage.within(canvas.bounds()),
            [Rect::new(10, 10, 2, 2), Rect::new(50, 60, 2, 2)]
        );
        display.compose(&mut canvas);
        assert_eq!(canvas.pixel(50, 60), 0xFFFF_FFFF);
        assert!(display.damage.is_empty());
    }
}

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
    /// Something visible changed since the last [`Display::take_dirty`].
    dirty: bool,
    /// Counts changes to visible layers and the cursor image (not pointer
    /// moves): the player uses it to tell a half-drawn frame.
    revision: u64,
}

impl Display {
    pub fn new(limits: Limits) -> Display {
        let mut display = Display {
            layers: HashMap::new(),
            cursor: Cursor { image: Surface::new(0, 0), hotspot: (0, 0) },
            mouse: None,
            next_id: 0,
            budget: SurfaceBudget::new(limits),
            dirty: true,
            revision: 0,
        };
        display.layer_mut(0).expect("layer 0 is always valid");
        display
    }

    /// Size of the default layer (the remote screen).
    pub fn size(&self) -> (u32, u32) {
        let s = &self.layers[&0].surface;
        (s.width(), s.height())
    }

    /// Whether the picture may have changed since the last call; resets it.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
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

    /// Marks the picture as changed when a visible layer is modified;
    /// buffers are off-screen, so drawing on them changes nothing visible.
    fn touch(&mut self, index: LayerIndex) {
        if index >= 0 {
            self.dirty = true;
            self.revision += 1;
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn resize_layer(&mut self, index: LayerIndex, w: u32, h: u32) -> Result<(), DrawError> {
        let old = self.layer_mut(index)?.surface.area();
        self.budget.resize(old, w, h)?;
        self.layer_mut(index)?.surface.resize(w, h);
        self.touch(index);
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
        let layer = self.layer_mut(index)?;
        layer.surface.composite(image, image.bounds(), x, y, Operator::from_mask(mask));
        self.touch(index);
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
        let layer = self.layer_mut(dst)?;
        layer.surface.composite(&source, src_rect, dx, dy, Operator::from_mask(mask));
        self.touch(dst);
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
        layer.surface.fill(&layer.path, color, Operator::from_mask(mask));
        layer.path_closed = true;
        self.touch(index);
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
        self.cursor = Cursor { image, hotspot: (hotspot.0.into(), hotspot.1.into()) };
        self.touch(0);
        Ok(())
    }

    pub fn move_mouse(&mut self, x: i32, y: i32) {
        let pos = Some((i64::from(x), i64::from(y)));
        if self.mouse != pos {
            self.mouse = pos;
            self.dirty = true;
        }
    }

    /// Flattens the display onto `canvas` (black where nothing is drawn):
    /// layer 0 at the top-left, its children by ascending z, opacity
    /// multiplied down the tree, then the cursor.
    pub fn compose(&self, canvas: &mut Surface) {
        canvas.pixels_mut().fill(0xFF00_0000);
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
        draw_tree(canvas, root, &children, 0, 0, 255, 0);
        if let Some((mx, my)) = self.mouse {
            let c = &self.cursor;
            draw_over(canvas, &c.image, mx - c.hotspot.0, my - c.hotspot.1, 255);
        }
    }
}

/// Depth guard: the tree cannot have cycles, but a bound costs nothing.
const MAX_DEPTH: usize = 256;

fn draw_tree(
    canvas: &mut Surface,
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
        draw_root(canvas, &layer.surface, alpha);
    } else {
        draw_over(canvas, &layer.surface, x, y, alpha);
    }
    for child in children.get(&layer.id).into_iter().flatten() {
        draw_tree(canvas, child, children, x + child.x, y + child.y, alpha, depth + 1);
    }
}

/// Paints the default layer onto the freshly cleared, opaque black canvas.
/// OVER onto opaque black keeps the premultiplied colour and makes it
/// opaque, so this is a copy that sets alpha: the hot path of every frame.
fn draw_root(canvas: &mut Surface, src: &Surface, alpha: u32) {
    let w = src.width().min(canvas.width()) as usize;
    let (cw, sw) = (canvas.width() as usize, src.width() as usize);
    for row in 0..src.height().min(canvas.height()) as usize {
        let out = &mut canvas.pixels_mut()[row * cw..row * cw + w];
        let input = &src.pixels()[row * sw..row * sw + w];
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

/// Paints `src` at (x, y) with OVER and a global alpha, clipped to `canvas`.
fn draw_over(canvas: &mut Surface, src: &Surface, x: i64, y: i64, alpha: u32) {
    if alpha == 0 {
        return;
    }
    let dst = Rect::new(x, y, src.width().into(), src.height().into()).intersect(&canvas.bounds());
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

//! Where the picture may have changed since it was last composed, in screen
//! coordinates. The player keeps its canvas from one frame to the next and
//! recomposes only these rectangles: most frames of a desktop session differ
//! by a pointer or a few characters, and flattening the whole layer tree for
//! each of them was most of our own CPU per frame.
//!
//! It is deliberately conservative: whatever may have changed is covered,
//! and anything the display cannot place exactly (a layer moved, shaded or
//! disposed, a screen resized) marks everything.

use super::surface::Rect;

/// Rectangles kept apart before they are merged into their bounding box:
/// a pointer at one corner and typing at another stay two small regions.
const MAX_RECTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    full: bool,
    rects: Vec<Rect>,
}

impl Damage {
    /// Nothing changed.
    pub fn none() -> Damage {
        Damage { full: false, rects: Vec::new() }
    }

    /// Everything may have changed.
    pub fn full() -> Damage {
        Damage { full: true, rects: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        !self.full && self.rects.is_empty()
    }

    pub fn add_full(&mut self) {
        self.full = true;
        self.rects.clear();
    }

    pub fn add(&mut self, r: Rect) {
        if self.full || r.is_empty() || self.rects.iter().any(|k| k.contains_rect(&r)) {
            return;
        }
        self.rects.retain(|k| !r.contains_rect(k));
        self.rects.push(r);
        if self.rects.len() > MAX_RECTS {
            let hull = self.rects.iter().fold(Rect::new(0, 0, 0, 0), |a, k| a.union(k));
            self.rects = vec![hull];
        }
    }

    /// The damaged rectangles inside `bounds`, none of them empty.
    pub fn within(&self, bounds: Rect) -> Vec<Rect> {
        if self.full {
            return if bounds.is_empty() { Vec::new() } else { vec![bounds] };
        }
        self.rects.iter().map(|r| r.intersect(&bounds)).filter(|r| !r.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Rect = Rect { x: 0, y: 0, w: 100, h: 100 };

    #[test]
    fn separate_regions_stay_separate_and_are_clipped() {
        let mut d = Damage::none();
        assert!(d.is_empty());
        d.add(Rect::new(-5, -5, 10, 10));
        d.add(Rect::new(90, 90, 20, 20));
        d.add(Rect::new(1, 1, 2, 2)); // inside the first: nothing new
        assert_eq!(d.within(SCREEN), [Rect::new(0, 0, 5, 5), Rect::new(90, 90, 10, 10)]);
    }

    #[test]
    fn a_larger_region_replaces_those_it_covers() {
        let mut d = Damage::none();
        d.add(Rect::new(10, 10, 2, 2));
        d.add(Rect::new(0, 0, 50, 50));
        assert_eq!(d.within(SCREEN), [Rect::new(0, 0, 50, 50)]);
    }

    #[test]
    fn too_many_regions_merge_into_their_hull() {
        let mut d = Damage::none();
        for i in 0..=MAX_RECTS as i64 {
            d.add(Rect::new(i * 10, 0, 1, 1));
        }
        assert_eq!(d.within(SCREEN), [Rect::new(0, 0, MAX_RECTS as i64 * 10 + 1, 1)]);
    }

    #[test]
    fn full_damage_is_the_whole_screen() {
        let mut d = Damage::none();
        d.add(Rect::new(1, 1, 1, 1));
        d.add_full();
        d.add(Rect::new(1, 1, 1, 1));
        assert_eq!(d.within(SCREEN), [SCREEN]);
        assert!(Damage::full().within(Rect::new(0, 0, 0, 0)).is_empty());
    }
}

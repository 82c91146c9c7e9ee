//! Porter-Duff compositing on premultiplied ARGB pixels (`0xAARRGGBB`).
//!
//! The Guacamole "channel mask" of `img`, `copy` and `cfill` selects the
//! operator. The mapping and the bounded/unbounded behaviour follow the
//! reference player (guacamole-common-js on an HTML canvas): the operators
//! `copy`, `source-in`, `source-out`, `destination-in` and `destination-atop`
//! clear the whole layer outside the drawn shape, the others leave it alone.

/// A compositing operator, named as in the Guacamole protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// 0xC, canvas `copy`.
    Src,
    /// 0xE, canvas `source-over`: what guacd uses for nearly everything.
    Over,
    /// 0x4, `source-in`.
    In,
    /// 0x8, `source-out`.
    Out,
    /// 0x6, `source-atop`.
    Atop,
    /// 0xB, `destination-over`.
    ReverseOver,
    /// 0x1, `destination-in`.
    ReverseIn,
    /// 0x2, `destination-out`: guacd clears rectangles with it.
    ReverseOut,
    /// 0x9, `destination-atop`.
    ReverseAtop,
    /// 0xA, `xor`.
    Xor,
    /// 0xF, `lighter`.
    Plus,
}

impl Operator {
    /// The operator for a channel mask; masks without a defined operator
    /// draw OVER (what guacenc does; the browser would keep the previous one).
    pub fn from_mask(mask: i32) -> Operator {
        match mask {
            0xC => Operator::Src,
            0x4 => Operator::In,
            0x8 => Operator::Out,
            0x6 => Operator::Atop,
            0xB => Operator::ReverseOver,
            0x1 => Operator::ReverseIn,
            0x2 => Operator::ReverseOut,
            0x9 => Operator::ReverseAtop,
            0xA => Operator::Xor,
            0xF => Operator::Plus,
            _ => Operator::Over,
        }
    }

    /// Whether the operator clears the destination where the source is absent.
    pub fn is_unbounded(self) -> bool {
        matches!(
            self,
            Operator::Src | Operator::In | Operator::Out | Operator::ReverseIn | Operator::ReverseAtop
        )
    }

    /// Composites one source pixel onto one destination pixel.
    #[inline]
    pub fn apply(self, src: u32, dst: u32) -> u32 {
        let sa = src >> 24;
        match self {
            Operator::Src => src,
            Operator::Over => match sa {
                255 => src,
                0 => dst,
                _ => add_sat(src, scale(dst, 255 - sa)),
            },
            _ => {
                let da = dst >> 24;
                let (fa, fb) = self.factors(sa, da);
                add_sat(scale(src, fa), scale(dst, fb))
            }
        }
    }

    /// Porter-Duff factors (source, destination), in 0..=255.
    fn factors(self, sa: u32, da: u32) -> (u32, u32) {
        match self {
            Operator::Src => (255, 0),
            Operator::Over => (255, 255 - sa),
            Operator::In => (da, 0),
            Operator::Out => (255 - da, 0),
            Operator::Atop => (da, 255 - sa),
            Operator::ReverseOver => (255 - da, 255),
            Operator::ReverseIn => (0, sa),
            Operator::ReverseOut => (0, 255 - sa),
            Operator::ReverseAtop => (255 - da, sa),
            Operator::Xor => (255 - da, 255 - sa),
            Operator::Plus => (255, 255),
        }
    }
}

/// x * y / 255, rounded, for x, y in 0..=255.
#[inline]
pub fn mul255(x: u32, y: u32) -> u32 {
    let t = x * y + 128;
    (t + (t >> 8)) >> 8
}

/// Scales all four channels of a premultiplied pixel by f/255.
#[inline]
pub fn scale(p: u32, f: u32) -> u32 {
    match f {
        0 => 0,
        255 => p,
        _ => {
            mul255(p >> 24, f) << 24
                | mul255((p >> 16) & 0xFF, f) << 16
                | mul255((p >> 8) & 0xFF, f) << 8
                | mul255(p & 0xFF, f)
        }
    }
}

/// Channel-wise saturating addition.
#[inline]
fn add_sat(a: u32, b: u32) -> u32 {
    let mut out = 0;
    for shift in [0, 8, 16, 24] {
        let c = ((a >> shift) & 0xFF) + ((b >> shift) & 0xFF);
        out |= c.min(255) << shift;
    }
    out
}

/// Premultiplies a straight-alpha colour.
#[inline]
pub fn premultiply(r: u8, g: u8, b: u8, a: u8) -> u32 {
    let a32 = u32::from(a);
    a32 << 24 | mul255(u32::from(r), a32) << 16 | mul255(u32::from(g), a32) << 8 | mul255(u32::from(b), a32)
}

/// Straight-alpha (r, g, b, a) of a premultiplied pixel.
#[inline]
pub fn unpremultiply(p: u32) -> (u8, u8, u8, u8) {
    let a = p >> 24;
    if a == 0 {
        return (0, 0, 0, 0);
    }
    let un = |c: u32| ((c * 255 + a / 2) / a).min(255) as u8;
    (un((p >> 16) & 0xFF), un((p >> 8) & 0xFF), un(p & 0xFF), a as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: u32 = 0xFFFF0000;
    const BLUE: u32 = 0xFF0000FF;
    const HALF_GREEN: u32 = 0x80008000; // 50 % green, premultiplied
    const CLEAR: u32 = 0;

    #[test]
    fn over_blends_premultiplied() {
        assert_eq!(Operator::Over.apply(RED, BLUE), RED);
        assert_eq!(Operator::Over.apply(CLEAR, BLUE), BLUE);
        // 50 % green over opaque blue: green 128, blue 255*(127/255)=127.
        assert_eq!(Operator::Over.apply(HALF_GREEN, BLUE), 0xFF00807F);
    }

    #[test]
    fn each_operator_matches_porter_duff() {
        let cases = [
            (Operator::Src, HALF_GREEN, BLUE, HALF_GREEN),
            (Operator::In, HALF_GREEN, CLEAR, CLEAR),
            (Operator::In, RED, HALF_GREEN, 0x80800000),
            (Operator::Out, RED, HALF_GREEN, 0x7F7F0000),
            (Operator::Atop, RED, HALF_GREEN, 0x80800000),
            (Operator::ReverseOver, RED, HALF_GREEN, 0xFF7F8000),
            (Operator::ReverseIn, HALF_GREEN, BLUE, 0x80000080),
            (Operator::ReverseOut, RED, BLUE, CLEAR),
            (Operator::ReverseOut, HALF_GREEN, BLUE, 0x7F00007F),
            (Operator::ReverseAtop, CLEAR, BLUE, CLEAR),
            (Operator::ReverseAtop, RED, CLEAR, RED),
            (Operator::Xor, RED, BLUE, CLEAR),
            (Operator::Xor, RED, CLEAR, RED),
            (Operator::Plus, 0xFF800000, 0xFFA00001, 0xFFFF0001),
        ];
        for (op, src, dst, want) in cases {
            assert_eq!(op.apply(src, dst), want, "{op:?}: {src:08x} onto {dst:08x}");
        }
    }

    #[test]
    fn masks_map_to_operators() {
        assert_eq!(Operator::from_mask(14), Operator::Over);
        assert_eq!(Operator::from_mask(12), Operator::Src);
        assert_eq!(Operator::from_mask(2), Operator::ReverseOut);
        assert_eq!(Operator::from_mask(9), Operator::ReverseAtop);
        assert_eq!(Operator::from_mask(3), Operator::Over);
        assert!(Operator::Src.is_unbounded());
        assert!(!Operator::Over.is_unbounded());
    }

    #[test]
    fn premultiply_round_trips() {
        let p = premultiply(200, 100, 50, 128);
        assert_eq!(p >> 24, 128);
        let (r, g, b, a) = unpremultiply(p);
        assert_eq!(a, 128);
        assert!((i32::from(r) - 200).abs() <= 1 && (i32::from(g) - 100).abs() <= 1);
        assert!((i32::from(b) - 50).abs() <= 2);
    }
}

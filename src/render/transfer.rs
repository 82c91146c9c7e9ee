//! `transfer`: raster operations between two rectangles, pixel by pixel, on
//! straight (not premultiplied) channels, as the browser player computes
//! them with `getImageData`/`putImageData`. guacenc ignores this instruction.

use super::composite::{premultiply, unpremultiply};
use super::surface::{Rect, Surface};

/// The result of one binary function on a source and destination channel.
fn function(code: i32, s: u8, d: u8) -> u8 {
    match code & 0xF {
        0x0 => 0x00,     // BLACK
        0x1 => s & d,    // AND
        0x2 => s & !d,   // AND inverted destination
        0x3 => s,        // SRC
        0x4 => !s & d,   // AND inverted source
        0x5 => d,        // DEST
        0x6 => s ^ d,    // XOR
        0x7 => s | d,    // OR
        0x8 => !(s | d), // NOR
        0x9 => !(s ^ d), // XNOR
        0xA => !d,       // invert DEST
        0xB => s | !d,   // OR inverted destination
        0xC => !s,       // invert SRC
        0xD => !s | d,   // OR inverted source
        0xE => !(s & d), // NAND
        _ => 0xFF,       // WHITE
    }
}

/// Whether the function replaces the destination alpha with the source's
/// (the player's SRC and NSRC do; the others keep the destination's).
fn takes_source_alpha(code: i32) -> bool {
    matches!(code & 0xF, 0x3 | 0xC)
}

/// Applies the transfer function `code` from `src_rect` of `src` to (dx, dy).
pub fn apply_transfer(dst: &mut Surface, src: &Surface, src_rect: Rect, dx: i64, dy: i64, code: i32) {
    let target = Rect::new(dx, dy, src_rect.w, src_rect.h).intersect(&dst.bounds());
    for y in target.y..target.bottom() {
        for x in target.x..target.right() {
            let sp = src.pixel((x - dx + src_rect.x) as u32, (y - dy + src_rect.y) as u32);
            let index = (y * i64::from(dst.width()) + x) as usize;
            let dp = dst.pixels()[index];
            let (sr, sg, sb, sa) = unpremultiply(sp);
            let (dr, dg, db, da) = unpremultiply(dp);
            let alpha = if takes_source_alpha(code) { sa } else { da };
            dst.pixels_mut()[index] =
                premultiply(function(code, sr, dr), function(code, sg, dg), function(code, sb, db), alpha);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_and_src_functions() {
        assert_eq!(function(0x6, 0b1100, 0b1010), 0b0110);
        assert_eq!(function(0x3, 7, 9), 7);
        assert_eq!(function(0x5, 7, 9), 9);
        assert_eq!(function(0xA, 0, 0x0F), 0xF0);
    }

    #[test]
    fn transfer_writes_without_compositing() {
        let src = Surface::from_pixels(1, 1, vec![0xFFFF0000]);
        let mut dst = Surface::from_pixels(2, 1, vec![0xFF00FF00, 0xFF00FF00]);
        apply_transfer(&mut dst, &src, Rect::new(0, 0, 1, 1), 1, 0, 0x6);
        assert_eq!(dst.pixels(), [0xFF00FF00, 0xFFFFFF00]);
    }
}

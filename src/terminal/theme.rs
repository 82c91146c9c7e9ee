//! Colours: the default theme (the 16 ANSI colours, foreground and
//! background), the 256-colour cube and greys, and truecolor.
//!
//! The theme is xterm's standard palette on a near-black background, so that
//! `ls --color` and syntax colours look as people are used to in a terminal.

use avt::Color;

pub type Rgb = (u8, u8, u8);

pub const BACKGROUND: Rgb = (0x12, 0x12, 0x12);
pub const FOREGROUND: Rgb = (0xd0, 0xd0, 0xd0);

/// xterm's 16 ANSI colours: black, red, green, yellow, blue, magenta, cyan,
/// white, then their bright forms.
pub const ANSI: [Rgb; 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

/// Colour `index` of the 256-colour palette.
pub fn indexed(index: u8) -> Rgb {
    match index {
        0..=15 => ANSI[usize::from(index)],
        16..=231 => {
            let i = index - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let v = 8 + (index - 232) * 10;
            (v, v, v)
        }
    }
}

/// A cell's colour; `bold` brightens the eight basic colours, as terminals do.
pub fn resolve(color: Option<Color>, default: Rgb, bold: bool) -> Rgb {
    match color {
        None => default,
        Some(Color::Indexed(i)) if bold && i < 8 => indexed(i + 8),
        Some(Color::Indexed(i)) => indexed(i),
        Some(Color::RGB(c)) => (c.r, c.g, c.b),
    }
}

/// `a` moved towards `b` by `t` (0..=255).
pub fn mix(a: Rgb, b: Rgb, t: u8) -> Rgb {
    let m =
        |x: u8, y: u8| ((u16::from(x) * u16::from(255 - t) + u16::from(y) * u16::from(t) + 127) / 255) as u8;
    (m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// An opaque premultiplied ARGB pixel.
pub fn pixel(c: Rgb) -> u32 {
    0xFF00_0000 | (u32::from(c.0) << 16) | (u32::from(c.1) << 8) | u32::from(c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette() {
        assert_eq!(indexed(16), (0, 0, 0));
        assert_eq!(indexed(196), (255, 0, 0));
        assert_eq!(indexed(231), (255, 255, 255));
        assert_eq!(indexed(232), (8, 8, 8));
        assert_eq!(indexed(255), (238, 238, 238));
        assert_eq!(resolve(Some(Color::Indexed(1)), FOREGROUND, true), ANSI[9]);
        assert_eq!(mix((0, 0, 0), (255, 255, 255), 255), (255, 255, 255));
    }
}

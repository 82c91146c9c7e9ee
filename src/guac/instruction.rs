//! Typed view of the instructions a recording can hold.
//!
//! Numbers are read leniently, the way libguac reads them (`atoi`: leading
//! sign and digits, anything else stops the number), because recordings from
//! odd writers must still render. Missing arguments make an instruction
//! invalid, which the caller reports and skips.

use super::parser::RawInstruction;

/// Layer index: `>= 0` visible layers, `< 0` off-screen buffers.
pub type LayerIndex = i32;

#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// Opens an image stream that draws onto `layer` at (x, y) when it ends.
    Img {
        stream: i32,
        mask: i32,
        layer: LayerIndex,
        mimetype: String,
        x: i32,
        y: i32,
    },
    /// Opens a stream that is not an image (audio, clipboard, file, ...):
    /// its blobs are ignored, but it occupies the index until `end`.
    OtherStream {
        stream: i32,
    },
    Blob {
        stream: i32,
        data: String,
    },
    End {
        stream: i32,
    },
    Copy {
        src: LayerIndex,
        sx: i32,
        sy: i32,
        w: i32,
        h: i32,
        mask: i32,
        dst: LayerIndex,
        dx: i32,
        dy: i32,
    },
    Transfer {
        src: LayerIndex,
        sx: i32,
        sy: i32,
        w: i32,
        h: i32,
        function: i32,
        dst: LayerIndex,
        dx: i32,
        dy: i32,
    },
    Rect {
        layer: LayerIndex,
        x: i32,
        y: i32,
        w: i32,
        h: i32,
    },
    Cfill {
        mask: i32,
        layer: LayerIndex,
        r: u8,
        g: u8,
        b: u8,
        a: u8,
    },
    Size {
        layer: LayerIndex,
        w: i32,
        h: i32,
    },
    Move {
        layer: LayerIndex,
        parent: LayerIndex,
        x: i32,
        y: i32,
        z: i32,
    },
    Shade {
        layer: LayerIndex,
        opacity: u8,
    },
    Dispose {
        layer: LayerIndex,
    },
    Cursor {
        hx: i32,
        hy: i32,
        src: LayerIndex,
        sx: i32,
        sy: i32,
        w: i32,
        h: i32,
    },
    Mouse {
        x: i32,
        y: i32,
        timestamp: Option<i64>,
    },
    Sync {
        timestamp: i64,
    },
    /// Known instructions that carry nothing to draw (`key`, `name`, `nop`, ...).
    Ignored,
    /// An opcode this renderer does not implement.
    Unknown(String),
}

/// Why a raw instruction could not be turned into an [`Instruction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInstruction {
    pub opcode: String,
    pub reason: String,
}

/// Opcodes that never affect the picture.
const IGNORED: &[&str] = &[
    "key",
    "touch",
    "name",
    "nop",
    "ack",
    "argv",
    "set",
    "required",
    "msg",
    "error",
    "disconnect",
    "undefine",
    "ready",
    "args",
    "connect",
    "select",
    "size-hint",
];

/// Opcodes that open a non-image stream (their index is taken until `end`).
const OTHER_STREAMS: &[&str] = &["audio", "video", "clipboard", "file", "pipe", "body"];

impl Instruction {
    pub fn from_raw(raw: &RawInstruction) -> Result<Instruction, InvalidInstruction> {
        let a = Args { raw, opcode: &raw.opcode };
        let op = raw.opcode.as_str();
        Ok(match op {
            "img" => Instruction::Img {
                stream: a.int(0)?,
                mask: a.int(1)?,
                layer: a.int(2)?,
                mimetype: a.text(3)?.to_string(),
                x: a.int(4)?,
                y: a.int(5)?,
            },
            "blob" => Instruction::Blob { stream: a.int(0)?, data: a.text(1)?.to_string() },
            "end" => Instruction::End { stream: a.int(0)? },
            "copy" => Instruction::Copy {
                src: a.int(0)?,
                sx: a.int(1)?,
                sy: a.int(2)?,
                w: a.int(3)?,
                h: a.int(4)?,
                mask: a.int(5)?,
                dst: a.int(6)?,
                dx: a.int(7)?,
                dy: a.int(8)?,
            },
            "transfer" => Instruction::Transfer {
                src: a.int(0)?,
                sx: a.int(1)?,
                sy: a.int(2)?,
                w: a.int(3)?,
                h: a.int(4)?,
                function: a.int(5)?,
                dst: a.int(6)?,
                dx: a.int(7)?,
                dy: a.int(8)?,
            },
            "rect" => {
                Instruction::Rect { layer: a.int(0)?, x: a.int(1)?, y: a.int(2)?, w: a.int(3)?, h: a.int(4)? }
            }
            "cfill" => Instruction::Cfill {
                mask: a.int(0)?,
                layer: a.int(1)?,
                r: a.byte(2)?,
                g: a.byte(3)?,
                b: a.byte(4)?,
                a: a.byte(5)?,
            },
            "size" => Instruction::Size { layer: a.int(0)?, w: a.int(1)?, h: a.int(2)? },
            "move" => Instruction::Move {
                layer: a.int(0)?,
                parent: a.int(1)?,
                x: a.int(2)?,
                y: a.int(3)?,
                z: a.int(4)?,
            },
            "shade" => Instruction::Shade { layer: a.int(0)?, opacity: a.byte(1)? },
            "dispose" => Instruction::Dispose { layer: a.int(0)? },
            "cursor" => Instruction::Cursor {
                hx: a.int(0)?,
                hy: a.int(1)?,
                src: a.int(2)?,
                sx: a.int(3)?,
                sy: a.int(4)?,
                w: a.int(5)?,
                h: a.int(6)?,
            },
            "mouse" => Instruction::Mouse {
                x: a.int(0)?,
                y: a.int(1)?,
                timestamp: if raw.args.len() >= 4 { Some(a.long(3)?) } else { None },
            },
            "sync" => Instruction::Sync { timestamp: a.long(0)? },
            _ if OTHER_STREAMS.contains(&op) => Instruction::OtherStream { stream: a.int(0)? },
            _ if IGNORED.contains(&op) => Instruction::Ignored,
            _ => Instruction::Unknown(raw.opcode.clone()),
        })
    }
}

struct Args<'a> {
    raw: &'a RawInstruction,
    opcode: &'a str,
}

impl Args<'_> {
    fn text(&self, i: usize) -> Result<&str, InvalidInstruction> {
        self.raw.args.get(i).map(String::as_str).ok_or_else(|| InvalidInstruction {
            opcode: self.opcode.to_string(),
            reason: format!("has {} arguments, needs at least {}", self.raw.args.len(), i + 1),
        })
    }

    fn long(&self, i: usize) -> Result<i64, InvalidInstruction> {
        Ok(atoi(self.text(i)?))
    }

    fn int(&self, i: usize) -> Result<i32, InvalidInstruction> {
        Ok(self.long(i)?.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
    }

    fn byte(&self, i: usize) -> Result<u8, InvalidInstruction> {
        Ok(self.long(i)?.clamp(0, 255) as u8)
    }
}

/// `atoi`-like: optional sign, then digits; stops at the first other byte.
/// Saturates instead of overflowing.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(op: &str, args: &[&str]) -> RawInstruction {
        RawInstruction { offset: 0, opcode: op.into(), args: args.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn atoi_is_lenient_like_libguac() {
        assert_eq!(atoi("123"), 123);
        assert_eq!(atoi("-7"), -7);
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn mouse_without_timestamp_is_not_a_render_point() {
        let m = Instruction::from_raw(&raw("mouse", &["1", "2"])).unwrap();
        assert_eq!(m, Instruction::Mouse { x: 1, y: 2, timestamp: None });
        let m = Instruction::from_raw(&raw("mouse", &["1", "2", "1", "500"])).unwrap();
        assert!(matches!(m, Instruction::Mouse { timestamp: Some(500), .. }));
    }

    #[test]
    fn missing_arguments_are_an_error() {
        let err = Instruction::from_raw(&raw("copy", &["0", "1"])).unwrap_err();
        assert_eq!(err.opcode, "copy");
        assert!(err.reason.contains("needs at least 3"), "{}", err.reason);
    }

    #[test]
    fn colour_components_are_clamped() {
        let c = Instruction::from_raw(&raw("cfill", &["14", "0", "300", "-5", "7", "255"])).unwrap();
        assert!(matches!(c, Instruction::Cfill { r: 255, g: 0, b: 7, a: 255, .. }));
    }

    #[test]
    fn unknown_and_ignored_opcodes_are_told_apart() {
        assert_eq!(
            Instruction::from_raw(&raw("frobnicate", &[])).unwrap(),
            Instruction::Unknown("frobnicate".into())
        );
        assert_eq!(Instruction::from_raw(&raw("key", &["65", "1", "5"])).unwrap(), Instruction::Ignored);
        assert_eq!(
            Instruction::from_raw(&raw("clipboard", &["3", "text/plain"])).unwrap(),
            Instruction::OtherStream { stream: 3 }
        );
    }
}

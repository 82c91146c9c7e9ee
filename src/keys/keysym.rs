//! X11 keysyms to key definitions, as guacamole-common-js 1.6's
//! `Guacamole.KeyEventInterpreter` makes them: a table of named keys, then
//! Latin-1 and the `0x0100xxxx` Unicode keysyms as their character, then
//! anything else named by its hex value.

/// What a key is called and what it types, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDefinition {
    pub keysym: i64,
    /// A human-readable name (`Return`, `Ctrl`, `a`, `0xfe50`).
    pub name: String,
    /// What typing it puts in a text editor (`"\n"` for Return), if anything.
    pub value: Option<String>,
}

/// The interpreter's named keys: (keysym, name, value).
const KNOWN: &[(i64, &str, Option<&str>)] = &[
    (0xFE03, "AltGr", None),
    (0xFF08, "Backspace", None),
    (0xFF09, "Tab", None),
    (0xFF0B, "Clear", None),
    (0xFF0D, "Return", Some("\n")),
    (0xFF13, "Pause", None),
    (0xFF14, "Scroll", None),
    (0xFF15, "SysReq", None),
    (0xFF1B, "Escape", None),
    (0xFF50, "Home", None),
    (0xFF51, "Left", None),
    (0xFF52, "Up", None),
    (0xFF53, "Right", None),
    (0xFF54, "Down", None),
    (0xFF55, "Page Up", None),
    (0xFF56, "Page Down", None),
    (0xFF57, "End", None),
    (0xFF63, "Insert", None),
    (0xFF65, "Undo", None),
    (0xFF6A, "Help", None),
    (0xFF7F, "Num", None),
    (0xFF80, "Space", Some(" ")),
    (0xFF8D, "Enter", Some("\n")),
    (0xFF95, "Home", None),
    (0xFF96, "Left", None),
    (0xFF97, "Up", None),
    (0xFF98, "Right", None),
    (0xFF99, "Down", None),
    (0xFF9A, "Page Up", None),
    (0xFF9B, "Page Down", None),
    (0xFF9C, "End", None),
    (0xFF9E, "Insert", None),
    (0xFFAA, "*", Some("*")),
    (0xFFAB, "+", Some("+")),
    (0xFFAD, "-", Some("-")),
    (0xFFAE, ".", Some(".")),
    (0xFFAF, "/", Some("/")),
    (0xFFB0, "0", Some("0")),
    (0xFFB1, "1", Some("1")),
    (0xFFB2, "2", Some("2")),
    (0xFFB3, "3", Some("3")),
    (0xFFB4, "4", Some("4")),
    (0xFFB5, "5", Some("5")),
    (0xFFB6, "6", Some("6")),
    (0xFFB7, "7", Some("7")),
    (0xFFB8, "8", Some("8")),
    (0xFFB9, "9", Some("9")),
    (0xFFE1, "Shift", None),
    (0xFFE2, "Shift", None),
    (0xFFE3, "Ctrl", None),
    (0xFFE4, "Ctrl", None),
    (0xFFE5, "Caps", None),
    (0xFFE7, "Meta", None),
    (0xFFE8, "Meta", None),
    (0xFFE9, "Alt", None),
    (0xFFEA, "Alt", None),
    (0xFFEB, "Super", None),
    (0xFFEC, "Super", None),
    (0xFFED, "Hyper", None),
    (0xFFEE, "Hyper", None),
    (0xFFFF, "Delete", None),
];

/// F1 to F24 are 0xFFBE to 0xFFD5.
const F1: i64 = 0xFFBE;

/// The definition of `keysym`, exactly as the 1.6 interpreter gives it.
pub fn definition(keysym: i64) -> KeyDefinition {
    if let Some(&(_, name, value)) = KNOWN.iter().find(|(k, _, _)| *k == keysym) {
        return KeyDefinition { keysym, name: name.into(), value: value.map(Into::into) };
    }
    if (F1..F1 + 24).contains(&keysym) {
        return KeyDefinition { keysym, name: format!("F{}", keysym - F1 + 1), value: None };
    }
    if let Some(c) = unicode(keysym) {
        return KeyDefinition { keysym, name: c.clone(), value: Some(c) };
    }
    KeyDefinition { keysym, name: hex_name(keysym), value: None }
}

/// Latin-1 keysyms are their code point; `0x0100xxxx` carries a code point
/// of the Basic Multilingual Plane. (The interpreter takes no other plane.)
fn unicode(keysym: i64) -> Option<String> {
    let code = match keysym {
        0..=0xFF => keysym,
        0x0100_0000..=0x0100_FFFF => keysym & 0xFFFF,
        _ => return None,
    };
    // JavaScript strings may hold a lone surrogate; a Rust one cannot.
    Some(char::from_u32(code as u32).unwrap_or(char::REPLACEMENT_CHARACTER).to_string())
}

/// `'0x' + keysym.toString(16)`: lowercase, a sign before the digits.
fn hex_name(keysym: i64) -> String {
    if keysym < 0 { format!("0x-{:x}", keysym.unsigned_abs()) } else { format!("0x{keysym:x}") }
}

#[cfg(test)]
mod tests {
    use super::definition;

    fn named(k: i64) -> (String, Option<String>) {
        let d = definition(k);
        (d.name, d.value)
    }

    #[test]
    fn named_keys_printable_keys_and_unknown_keys() {
        assert_eq!(named(0xFF0D), ("Return".into(), Some("\n".into())));
        assert_eq!(named(0xFF08), ("Backspace".into(), None));
        assert_eq!(named(0xFFC9), ("F12".into(), None));
        assert_eq!(named(0x61), ("a".into(), Some("a".into())));
        assert_eq!(named(0xE9), ("é".into(), Some("é".into())));
        assert_eq!(named(0x0100_4E2D), ("中".into(), Some("中".into())));
        assert_eq!(named(0xFE50), ("0xfe50".into(), None));
        // Planes beyond the first are not characters to the interpreter.
        assert_eq!(named(0x0101_F600), ("0x101f600".into(), None));
        assert_eq!(named(-5), ("0x-5".into(), None));
    }
}

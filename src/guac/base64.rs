//! Lenient base64 decoding of `blob` payloads.
//!
//! libguac decodes in place, stops at the first `=` and does not reject
//! foreign characters. We decode the same way (so recordings that guacenc
//! and the browser player accept still render), but count the characters we
//! had to skip so the caller can warn about them. A general-purpose base64
//! crate would reject such input outright, which is why this is hand-written.

/// Decoded bytes plus the number of characters that were not base64.
pub struct Decoded {
    pub bytes: Vec<u8>,
    pub invalid_chars: usize,
}

const INVALID: u8 = 0xFF;

const fn table() -> [u8; 256] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
}

static TABLE: [u8; 256] = table();

/// Appends the decoded bytes of `text` to `out`; returns the count of
/// characters that are neither base64 nor padding.
pub fn decode_into(text: &str, out: &mut Vec<u8>) -> usize {
    out.reserve(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut invalid = 0usize;
    for &c in text.as_bytes() {
        if c == b'=' {
            break;
        }
        let v = TABLE[c as usize];
        if v == INVALID {
            invalid += 1;
            continue;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    invalid
}

pub fn decode(text: &str) -> Decoded {
    let mut bytes = Vec::new();
    let invalid_chars = decode_into(text, &mut bytes);
    Decoded { bytes, invalid_chars }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_standard_base64() {
        assert_eq!(decode("aGVsbG8=").bytes, b"hello");
        assert_eq!(decode("aGVsbG8h").bytes, b"hello!");
        assert_eq!(decode("").bytes, b"");
    }

    #[test]
    fn stops_at_padding_like_libguac() {
        assert_eq!(decode("aGk=aGk=").bytes, b"hi");
    }

    #[test]
    fn counts_foreign_characters() {
        let d = decode("aG*Vs\nbG8=");
        assert_eq!(d.bytes, b"hello");
        assert_eq!(d.invalid_chars, 2);
    }
}

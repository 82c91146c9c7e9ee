//! Identifiers that reach paths and object keys (session ids, file names a
//! gateway announces): plain characters only, so no `..`, slash, NUL or
//! absolute path can ever come through them.

/// Whether a client-given identifier may be used in paths and object keys:
/// 1 to 128 of `A-Z a-z 0-9 - _ .`, and not `.` or `..`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_ids_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0b", &"x".repeat(129)] {
            assert!(!is_safe_id(bad), "{bad:?}");
        }
        assert!(is_safe_id("2f9c1a7e-55aa-4b0b-9a32-0b7f7f2a1c11"));
    }
}

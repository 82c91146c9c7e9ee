//! Decoding UTF-8 that arrives in arbitrary pieces: a character split
//! between two pieces is joined, invalid bytes become U+FFFD (as KoKo does).

#[derive(Debug, Default)]
pub struct Utf8Stream {
    carry: Vec<u8>,
}

impl Utf8Stream {
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut input = std::mem::take(&mut self.carry);
        input.extend_from_slice(bytes);
        let mut out = String::with_capacity(input.len());
        let mut rest: &[u8] = &input;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{fffd}');
                            rest = &bad[n..];
                        }
                        None => {
                            // An incomplete character at the end: wait for the next piece.
                            self.carry = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_characters_join_and_bad_bytes_are_replaced() {
        let mut s = Utf8Stream::default();
        let bytes = "中文".as_bytes();
        assert_eq!(s.decode(&bytes[..2]), "");
        assert_eq!(s.decode(&bytes[2..4]), "中");
        assert_eq!(s.decode(&bytes[4..]), "文");
        assert_eq!(s.decode(b"a\xffb"), "a\u{fffd}b");
    }
}

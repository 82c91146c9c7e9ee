//! What a file holds, told from its first bytes (after unsealing and
//! gunzipping), never from its name.

use super::asciicast::{Header, parse_header};
use super::typescript::{is_data_header, looks_like_timing};

/// Bytes looked at to tell formats apart.
pub const HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A Guacamole protocol dump (`4.sync,...;`): not ours.
    Guacamole,
    /// An asciicast v2 or v3 stream, with its header.
    CastStream(Header),
    /// One JSON document: asciicast v1, KoKo's old replay, or a Lion
    /// `replay.json` index (told apart when parsed).
    JsonDocument,
    /// A typescript's data file.
    TypescriptData,
    /// A typescript's timing file.
    Timing,
    /// A tar archive (JumpServer core's `<sid>.tar` download).
    Tar,
    Unknown,
}

pub fn sniff(head: &[u8]) -> Content {
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Content::Tar;
    }
    if is_data_header(head) {
        return Content::TypescriptData;
    }
    let text = trim_start(head);
    if text.first() == Some(&b'{') {
        let first_line = text.split(|&b| b == b'\n').next().unwrap_or(text);
        if let Some(header) = parse_header(first_line) {
            return Content::CastStream(header);
        }
        return Content::JsonDocument;
    }
    if is_guacamole(text) {
        return Content::Guacamole;
    }
    if looks_like_timing(head) {
        return Content::Timing;
    }
    Content::Unknown
}

/// `<length>.<opcode>,` or `<length>.<opcode>;`, as every Guacamole instruction starts.
fn is_guacamole(text: &[u8]) -> bool {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 6 || text.get(digits) != Some(&b'.') {
        return false;
    }
    let Ok(len) = std::str::from_utf8(&text[..digits]).unwrap_or("x").parse::<usize>() else {
        return false;
    };
    let body = &text[digits + 1..];
    body.len() > len && matches!(body[len], b',' | b';') && body[..len].iter().all(|b| b.is_ascii_graphic())
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let bom = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let start = bom.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bom.len());
    &bom[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_content() {
        assert_eq!(sniff(b"4.sync,13.1700000000000;"), Content::Guacamole);
        assert_eq!(sniff(b"3.img,1.1,2.14,1.0,9.image/png,1.0,1.0;"), Content::Guacamole);
        assert!(matches!(
            sniff(b"{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"a\"]\n"),
            Content::CastStream(_)
        ));
        assert_eq!(sniff(b"{\"0.5\":\"a\",\"1.0\":\"b\"}"), Content::JsonDocument);
        assert_eq!(sniff(b"{\n  \"version\": 1,\n  \"stdout\": []}"), Content::JsonDocument);
        assert_eq!(sniff(b"[BEGIN TYPESCRIPT]\nabc"), Content::TypescriptData);
        assert_eq!(sniff(b"Script started on 2026-12-02\n"), Content::TypescriptData);
        assert_eq!(sniff(b"0.012 5\n0.5 10\n"), Content::Timing);
        assert_eq!(sniff(b"hello"), Content::Unknown);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Content::Tar);
    }
}

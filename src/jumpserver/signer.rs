//! HTTP Signatures as JumpServer core checks them (draft-cavage, the
//! `LeeEirc/httpsig` flavour that sdk-go uses): HMAC-SHA256 over
//! `(request-target)` and `date`, keyed by the access key's secret.
//!
//! Hand-written (about 30 lines) because every public crate implements
//! either an older draft with different defaults or RFC 9421, whose wire
//! format core does not accept.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// An access key issued by core at registration (`id:secret` on disk).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessKey({}, secret: ******)", self.id)
    }
}

impl AccessKey {
    /// Parses the key file's `id:secret` (exactly two parts, as sdk-go requires).
    pub fn parse(text: &str) -> Option<AccessKey> {
        let mut parts = text.trim().split(':');
        let (id, secret) = (parts.next()?, parts.next()?);
        if parts.next().is_some() || id.is_empty() || secret.is_empty() {
            return None;
        }
        Some(AccessKey { id: id.into(), secret: secret.into() })
    }

    /// The key file's content.
    pub fn to_file_text(&self) -> String {
        format!("{}:{}", self.id, self.secret)
    }
}

/// The string that is signed: `(request-target): <method> <path?query>\ndate: <date>`.
pub fn signing_string(method: &str, path_and_query: &str, date: &str) -> String {
    format!("(request-target): {} {}\ndate: {}", method.to_ascii_lowercase(), path_and_query, date)
}

/// Base64 HMAC-SHA256 of the signing string.
pub fn signature(secret: &str, method: &str, path_and_query: &str, date: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(signing_string(method, path_and_query, date).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for a request.
pub fn authorization(key: &AccessKey, method: &str, path_and_query: &str, date: &str) -> String {
    format!(
        "Signature keyId=\"{}\",algorithm=\"hmac-sha256\",headers=\"(request-target) date\",signature=\"{}\"",
        key.id,
        signature(&key.secret, method, path_and_query, date)
    )
}

/// A `Date` header value for now (RFC 1123, GMT).
pub fn http_date() -> String {
    chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's test vector (jumpserver-peers.md, section 1.2).
    #[test]
    fn matches_the_reference_test_vector() {
        let got = signature(
            "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "GET",
            "/api/v1/users/profile/",
            "Thu, 13 Nov 2025 10:46:02 UTC",
        );
        assert_eq!(got, "aRGG937aPIwgxi/0pVV63oA4GMcVbOi5D7IUgObSdp0=");
    }

    #[test]
    fn header_has_the_exact_format() {
        let key = AccessKey { id: "ak-1".into(), secret: "s".into() };
        let h = authorization(&key, "POST", "/api/v1/x/?a=1", "Thu, 13 Nov 2025 10:46:02 GMT");
        assert!(h.starts_with(
            "Signature keyId=\"ak-1\",algorithm=\"hmac-sha256\",headers=\"(request-target) date\",signature=\""
        ));
        assert!(signing_string("POST", "/p?q=1", "D").starts_with("(request-target): post /p?q=1\n"));
    }

    #[test]
    fn key_files_parse_strictly_and_debug_hides_the_secret() {
        let k = AccessKey::parse("id-1:secret-1\n").unwrap();
        assert_eq!(k.to_file_text(), "id-1:secret-1");
        assert!(AccessKey::parse("a:b:c").is_none());
        assert!(AccessKey::parse("nocolon").is_none());
        assert!(!format!("{k:?}").contains("secret-1"));
    }
}

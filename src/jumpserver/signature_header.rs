//! Reading a gateway's `Authorization: Signature keyId="...",algorithm="...",
//! headers="...",signature="..."` header (draft-cavage, as sdk-go writes it)
//! before anything is asked of core.
//!
//! Why locally: core answers a malformed signature with an unhandled
//! exception (a 500 HTML page) when the signed headers leave out `date` or
//! `(request-target)`, name an algorithm pyhttpsig does not know, or name a
//! header the request lacks. Refusing those here means that every 5xx core
//! answers to a well-formed request is an outage of core, never a verdict
//! on the credentials, and core is not asked about what cannot pass.

use base64::Engine;

/// The one algorithm core verifies gateway signatures with.
pub const ALGORITHM: &str = "hmac-sha256";

/// Headers a signature may list: the worker passes only `Date` and
/// `X-JMS-ORG` on to core (with the profile path as the request target),
/// so a signature over any other header could not be checked by core.
const SIGNABLE: [&str; 3] = ["(request-target)", "date", "x-jms-org"];

/// Bytes of an HMAC-SHA256.
const MAC_LEN: usize = 32;

/// The parameters of a well-formed signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    pub key_id: &'a str,
    pub algorithm: &'a str,
    /// The signed headers, as listed (lowercase or not).
    pub headers: Vec<&'a str>,
    /// The signature, standard base64.
    pub signature: &'a str,
}

/// Why a header is not a signature core could accept. The words name the
/// defect only: they go back to the caller and must carry nothing of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the Authorization is not a JumpServer signature (scheme \"Signature\")")]
    NotASignature,
    #[error("the signature's parameters are not a list of name=\"value\"")]
    Syntax,
    #[error("the signature names a parameter twice")]
    Duplicate,
    #[error("the signature has no {0}")]
    MissingParameter(&'static str),
    #[error("the signature's algorithm is not hmac-sha256")]
    Algorithm,
    #[error("the signed headers must cover (request-target) and date, and nothing the worker cannot pass on")]
    SignedHeaders,
    #[error("the signature is not a base64 HMAC-SHA256")]
    NotBase64,
    /// Not the header's own defect, but the request's: the signature covers
    /// a `Date` the request does not carry.
    #[error("the request has no Date header, which its signature covers")]
    NoDate,
}

/// Parses and checks `authorization`: the `Signature` scheme (any case),
/// then quoted parameters separated by commas, in any order, with
/// case-insensitive names; others than the four (draft-cavage's `created`,
/// `expires`) are ignored, as core reads only those. Never panics,
/// whatever the input.
pub fn parse(authorization: &str) -> Result<SignatureHeader<'_>, Malformed> {
    let params = strip_scheme(authorization.trim()).ok_or(Malformed::NotASignature)?;
    let (mut key_id, mut algorithm, mut headers, mut signature) = (None, None, None, None);
    for (name, value) in parameters(params)? {
        let slot = match name.to_ascii_lowercase().as_str() {
            "keyid" => &mut key_id,
            "algorithm" => &mut algorithm,
            "headers" => &mut headers,
            "signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Malformed::Duplicate);
        }
    }
    let header = SignatureHeader {
        key_id: required(key_id, "keyId")?,
        algorithm: required(algorithm, "algorithm")?,
        headers: required(headers, "headers")?.split_ascii_whitespace().collect(),
        signature: required(signature, "signature")?,
    };
    check(&header)?;
    Ok(header)
}

/// A parameter's value, which must be there and not be empty.
fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, Malformed> {
    value.filter(|v| !v.is_empty()).ok_or(Malformed::MissingParameter(name))
}

/// What core would refuse or fail on, in a header that parses.
fn check(h: &SignatureHeader<'_>) -> Result<(), Malformed> {
    // pyhttpsig compares the algorithm's name as given.
    if h.algorithm != ALGORITHM {
        return Err(Malformed::Algorithm);
    }
    let lists = |name: &str| h.headers.iter().any(|s| s.eq_ignore_ascii_case(name));
    let signable = h.headers.iter().all(|s| SIGNABLE.iter().any(|ok| s.eq_ignore_ascii_case(ok)));
    if !lists("(request-target)") || !lists("date") || !signable {
        return Err(Malformed::SignedHeaders);
    }
    let mac =
        base64::engine::general_purpose::STANDARD.decode(h.signature).map_err(|_| Malformed::NotBase64)?;
    if mac.len() != MAC_LEN {
        return Err(Malformed::NotBase64);
    }
    Ok(())
}

/// The parameters after `Signature ` (the scheme's case does not matter).
fn strip_scheme(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(|c: char| c.is_ascii_whitespace())?;
    scheme.eq_ignore_ascii_case("Signature").then_some(rest)
}

/// `name="value"` pairs separated by commas, with optional blanks around
/// the commas and the `=`. Values are quoted strings without escapes
/// (draft-cavage values never need one); an empty list is malformed.
fn parameters(mut rest: &str) -> Result<Vec<(&str, &str)>, Malformed> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        let (name, after) = rest.split_once('=').ok_or(Malformed::Syntax)?;
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Malformed::Syntax);
        }
        let quoted = after.trim_start().strip_prefix('"').ok_or(Malformed::Syntax)?;
        let (value, after) = quoted.split_once('"').ok_or(Malformed::Syntax)?;
        out.push((name, value));
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(out);
        }
        rest = after.strip_prefix(',').ok_or(Malformed::Syntax)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jumpserver::signer::{AccessKey, authorization};
    use proptest::prelude::*;

    const MAC: &str = "aRGG937aPIwgxi/0pVV63oA4GMcVbOi5D7IUgObSdp0=";

    fn lion_header() -> String {
        let key = AccessKey { id: "ak-1".into(), secret: "s".into() };
        authorization(&key, "GET", "/api/v1/users/profile/", "Thu, 13 Nov 2025 10:46:02 UTC")
    }

    fn with(params: &str) -> String {
        format!("Signature {params}")
    }

    #[test]
    fn what_sdk_go_writes_parses() {
        let header = lion_header();
        let h = parse(&header).unwrap();
        assert_eq!((h.key_id, h.algorithm), ("ak-1", "hmac-sha256"));
        assert_eq!(h.headers, ["(request-target)", "date"]);
        assert!(h.signature.ends_with('='));
    }

    #[test]
    fn parameters_come_in_any_order_and_case_with_blanks_and_extras() {
        let header = with(&format!(
            r#"  SIGNATURE="{MAC}" , Headers = "date (request-target) x-jms-org",created="1", KEYID="ak-2",Algorithm="hmac-sha256"  "#
        ));
        let h = parse(&header).unwrap();
        assert_eq!((h.key_id, h.signature), ("ak-2", MAC));
        assert_eq!(h.headers, ["date", "(request-target)", "x-jms-org"]);
        assert!(parse(&format!("signature keyId=\"a\",algorithm=\"hmac-sha256\",headers=\"(request-target) date\",signature=\"{MAC}\"")).is_ok(), "the scheme's case does not matter");
    }

    #[test]
    fn anything_but_a_signature_scheme_is_refused() {
        for header in [
            "",
            "Signature",
            "Signature ",
            "Bearer abc",
            "Token abc",
            "Signaturex keyId=\"a\"",
            "Basic dXNlcjpwYXNz",
        ] {
            assert!(matches!(parse(header), Err(Malformed::NotASignature | Malformed::Syntax)), "{header:?}");
        }
    }

    #[test]
    fn broken_syntax_is_refused() {
        let good =
            format!(r#"keyId="a",algorithm="hmac-sha256",headers="(request-target) date",signature="{MAC}""#);
        for params in [
            format!(r#"keyId=a,algorithm="hmac-sha256",headers="(request-target) date",signature="{MAC}""#),
            format!(r#"keyId="a",algorithm="hmac-sha256",headers="(request-target) date",signature="{MAC}"#),
            format!(r#"keyId="a" algorithm="hmac-sha256",headers="(request-target) date",signature="{MAC}""#),
            format!("{good},"),
            format!(",{good}"),
            format!(r#"="a",{good}"#),
            format!(r#"key id="a",{good}"#),
        ] {
            assert_eq!(parse(&with(&params)), Err(Malformed::Syntax), "{params}");
        }
        assert_eq!(parse(&with(&format!(r#"{good},keyid="b""#))), Err(Malformed::Duplicate));
    }

    #[test]
    fn every_parameter_is_required() {
        let all = [
            ("keyId", "a"),
            ("algorithm", "hmac-sha256"),
            ("headers", "(request-target) date"),
            ("signature", MAC),
        ];
        for (left_out, _) in all {
            let params: Vec<String> =
                all.iter().filter(|(n, _)| *n != left_out).map(|(n, v)| format!("{n}=\"{v}\"")).collect();
            assert_eq!(parse(&with(&params.join(","))), Err(Malformed::MissingParameter(left_out)));
            let empty: Vec<String> =
                all.iter().map(|(n, v)| format!("{n}=\"{}\"", if *n == left_out { "" } else { v })).collect();
            assert_eq!(parse(&with(&empty.join(","))), Err(Malformed::MissingParameter(left_out)));
        }
    }

    #[test]
    fn the_algorithm_the_signed_headers_and_the_signature_are_checked() {
        let make = |alg: &str, headers: &str, sig: &str| {
            with(&format!(r#"keyId="a",algorithm="{alg}",headers="{headers}",signature="{sig}""#))
        };
        for alg in ["hmac-sha1", "rsa-sha256", "HMAC-SHA256", "hs2019"] {
            assert_eq!(parse(&make(alg, "(request-target) date", MAC)), Err(Malformed::Algorithm), "{alg}");
        }
        for headers in
            ["(request-target)", "date", "host date (request-target)", "(request-target) date digest", " "]
        {
            assert_eq!(
                parse(&make("hmac-sha256", headers, MAC)),
                Err(Malformed::SignedHeaders),
                "{headers:?}"
            );
        }
        assert!(parse(&make("hmac-sha256", "(Request-Target) Date X-JMS-ORG", MAC)).is_ok());
        for sig in [
            "not base64!",
            "aRGG937aPIwgxi/0pVV63oA4GMcVbOi5D7IUgObSdp0",
            "AAAA",
            "aRGG937aPIwgxi_0pVV63oA4GMcVbOi5D7IUgObSdp0=",
        ] {
            assert_eq!(
                parse(&make("hmac-sha256", "(request-target) date", sig)),
                Err(Malformed::NotBase64),
                "{sig}"
            );
        }
    }

    #[test]
    fn the_reasons_carry_nothing_of_the_header() {
        let secretish = with(
            r#"keyId="ak-SECRETISH",algorithm="md5",headers="(request-target) date",signature="c2VjcmV0""#,
        );
        let why = parse(&secretish).unwrap_err().to_string();
        assert!(!why.contains("SECRETISH") && !why.contains("md5") && !why.contains("c2Vj"), "{why}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text at all: an answer, never a panic.
        #[test]
        fn never_panics(header in "\\PC{0,120}") {
            let _ = parse(&header);
        }

        /// Text made of the header's own pieces reaches the deep branches.
        #[test]
        fn never_panics_on_near_misses(parts in prop::collection::vec(
            prop::sample::select(vec!["Signature ", "keyId", "algorithm", "headers", "signature", "=", "\"", ",", " ",
                "hmac-sha256", "(request-target)", "date", MAC, "ak-1", "é", "\t"]), 0..24)) {
            let header: String = parts.concat();
            if let Ok(h) = parse(&header) {
                prop_assert_eq!(h.algorithm, ALGORITHM);
            }
        }

        /// Whatever order the four parameters come in, the header means the same.
        #[test]
        fn order_does_not_matter(order in Just([0usize, 1, 2, 3]).prop_shuffle()) {
            let params = [r#"keyId="ak-1""#, r#"algorithm="hmac-sha256""#, r#"headers="(request-target) date""#,
                &format!(r#"signature="{MAC}""#)];
            let header = with(&order.iter().map(|&i| params[i]).collect::<Vec<_>>().join(","));
            let h = parse(&header).unwrap();
            prop_assert_eq!((h.key_id, h.signature), ("ak-1", MAC));
        }
    }
}

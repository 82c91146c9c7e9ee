//! Checking a gateway (Lion) before it may upload: the `Authorization`,
//! `Date` and `X-JMS-ORG` headers it sends are replayed to core's profile
//! endpoint, which verifies the signature with the gateway's secret (the
//! worker never sees it). Only service accounts pass.
//!
//! Three kinds of "no", because the gateway acts on each differently:
//! - a header that cannot be a signature core accepts is refused here,
//!   without asking core (`signature_header`);
//! - core's own refusal (401, 403, 400, a 200 that is not a service
//!   account) is a refusal, remembered briefly;
//! - core not answering (5xx, 429, 408, a timeout, no connection) leaves
//!   the question open: the gateway is told to come back, and nothing is
//!   remembered, so the next request asks core again.
//!
//! Answers are cached by a hash of the headers (never the headers
//! themselves), so a burst of part uploads costs core one call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::core_client::{CoreClient, CoreError};
use super::signature_header::{self, Malformed};

/// How long core's "yes" is trusted.
const ALLOW_TTL: Duration = Duration::from_secs(60);
/// How long a "no" is remembered (short: a retry after a fix must work).
const DENY_TTL: Duration = Duration::from_secs(5);
/// Entries kept at most (old ones are dropped first).
const MAX_ENTRIES: usize = 4096;
/// How long a gateway's request waits for core's verdict: a hung core must
/// become a quick "come back later", not a hung upload.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// An outage of core is said at WARN once per this span; the requests in
/// between are refused all the same, and said at DEBUG.
const OUTAGE_REPEAT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials at all.
    Missing,
    /// Credentials that cannot pass: refused without asking core.
    Malformed(Malformed),
    /// Core refused them, or they belong to a person, not a component.
    Refused(String),
    /// Core could not be asked or did not answer; the gateway should retry
    /// (or fall back).
    Unavailable(String),
}

/// The three headers a gateway authenticates with.
pub struct Credentials<'a> {
    pub authorization: &'a str,
    pub date: &'a str,
    pub org: &'a str,
}

/// The account name, or why not.
pub type Verdict = Result<String, Denied>;

/// Answers by credential fingerprint, with when they were given.
type Cache = HashMap<[u8; 32], (Instant, Verdict)>;

pub struct GatewayAuth {
    core: Arc<CoreClient>,
    cache: Mutex<Cache>,
    timeout: Duration,
    /// When the current outage of core was last said at WARN.
    outage_warned: Mutex<Option<Instant>>,
}

impl GatewayAuth {
    pub fn new(core: Arc<CoreClient>) -> GatewayAuth {
        GatewayAuth::with_timeout(core, CHECK_TIMEOUT)
    }

    /// With another limit on core's answer (tests of a hung core).
    pub fn with_timeout(core: Arc<CoreClient>, timeout: Duration) -> GatewayAuth {
        GatewayAuth { core, cache: Mutex::new(HashMap::new()), timeout, outage_warned: Mutex::new(None) }
    }

    /// The service account's name when the credentials are good.
    pub async fn check(&self, c: &Credentials<'_>) -> Verdict {
        well_formed(c)?;
        let key = fingerprint(c);
        if let Some(answer) = self.cached(&key) {
            return answer;
        }
        let answer = self.ask_core(c).await;
        if !matches!(answer, Err(Denied::Unavailable(_))) {
            self.remember(key, answer.clone());
        }
        answer
    }

    /// Core's verdict on credentials that are well formed.
    async fn ask_core(&self, c: &Credentials<'_>) -> Verdict {
        let org = if c.org.is_empty() { "ROOT" } else { c.org };
        let user = match self.core.profile_of(c.authorization, c.date, org, self.timeout).await {
            Ok(user) => user,
            Err(e) => {
                return Err(match judge(&e) {
                    Judged::Refused(why) => {
                        self.note_answer();
                        Denied::Refused(why)
                    }
                    Judged::Unavailable(why) => {
                        self.note_outage(&e);
                        Denied::Unavailable(why)
                    }
                });
            }
        };
        self.note_answer();
        if user["is_service_account"].as_bool() != Some(true) {
            return Err(Denied::Refused("not a service account".into()));
        }
        Ok(user["username"].as_str().or(user["name"].as_str()).unwrap_or("component").to_string())
    }

    /// Core cannot check gateways: WARN at the start of a burst, with the
    /// cause for the admin (its status or the connection's error, never its
    /// body nor the gateway's headers), DEBUG for the rest of it.
    fn note_outage(&self, e: &CoreError) {
        let cause = log_safe(e);
        let mut warned = self.outage_warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_none_or(|at| at.elapsed() >= OUTAGE_REPEAT) {
            tracing::warn!(%cause, "core cannot check gateways' credentials now: they are told to retry");
            *warned = Some(Instant::now());
        } else {
            tracing::debug!(%cause, "core still cannot check gateways' credentials");
        }
    }

    /// Core answered: ends a burst of outage, saying so.
    fn note_answer(&self) {
        let mut warned = self.outage_warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.take().is_some() {
            tracing::info!("core checks gateways' credentials again");
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Verdict> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (at, answer) = cache.get(key)?;
        let ttl = if answer.is_ok() { ALLOW_TTL } else { DENY_TTL };
        (at.elapsed() < ttl).then(|| answer.clone())
    }

    fn remember(&self, key: [u8; 32], answer: Verdict) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < ALLOW_TTL);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), answer));
    }
}

/// Refuses what core must not be asked about: no credentials, a header
/// that is not a well-formed hmac-sha256 signature over `(request-target)`
/// and `date`, or no `Date` to go with it.
fn well_formed(c: &Credentials<'_>) -> Result<(), Denied> {
    if c.authorization.trim().is_empty() {
        return Err(Denied::Missing);
    }
    signature_header::parse(c.authorization).map_err(Denied::Malformed)?;
    if c.date.trim().is_empty() {
        return Err(Denied::Malformed(Malformed::NoDate));
    }
    Ok(())
}

enum Judged {
    Refused(String),
    Unavailable(String),
}

/// What core's failure to vouch for the credentials means to the gateway,
/// in words that carry nothing of core's answer: the caller is not yet
/// authenticated, and core's body can be an HTML error page. Core's
/// considered answers (401, 403, 400 and other 4xx) are a "no": asking
/// again will not change them. Core not answering now (any 5xx, 429, 408,
/// a timeout, no connection) leaves the question open: malformed
/// signatures, the one thing core answers with a 500, never reach it.
fn judge(e: &CoreError) -> Judged {
    match e {
        CoreError::Unauthorized => Judged::Refused("core refused the signature (401)".into()),
        CoreError::Http { status, .. } if e.is_transient() => {
            Judged::Unavailable(format!("core cannot answer now ({status})"))
        }
        CoreError::Http { status, .. } => {
            Judged::Refused(format!("core did not accept the signature ({status})"))
        }
        CoreError::Network { .. } => {
            Judged::Unavailable("core cannot be reached or did not answer in time".into())
        }
        other => Judged::Unavailable(format!("core cannot be asked: {}", kind_of(other))),
    }
}

/// A short name for the errors that say nothing about the credentials.
fn kind_of(e: &CoreError) -> &'static str {
    match e {
        CoreError::NoBootstrapToken | CoreError::KeyFile { .. } => "the worker has no access key",
        _ => "the worker is not registered",
    }
}

/// The cause of an outage as the log may show it: core's status, not its
/// body (a debug page of core can echo the request's headers).
fn log_safe(e: &CoreError) -> String {
    match e {
        CoreError::Http { what, status, .. } => format!("core answered {status} to {what}"),
        other => other.to_string(),
    }
}

/// A hash of the credentials: the cache never holds a usable header.
fn fingerprint(c: &Credentials<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [c.authorization, c.date, c.org] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> CoreError {
        CoreError::Http { what: "/api/v1/users/profile/".into(), status, body: body.into() }
    }

    #[test]
    fn core_s_considered_answers_are_refusals_that_carry_nothing_of_it() {
        let detail = r#"{"detail": "You do not have permission to perform this action."}"#;
        for e in [CoreError::Unauthorized, http(400, "{}"), http(403, detail), http(404, "<html>")] {
            match judge(&e) {
                Judged::Refused(why) => assert!(!why.contains('<') && !why.contains('{'), "{why}"),
                Judged::Unavailable(why) => panic!("{e} is core's answer, not an outage: {why}"),
            }
        }
    }

    #[test]
    fn a_core_that_cannot_answer_now_is_unavailable() {
        let network =
            CoreError::Network { what: "x".into(), cause: "connection refused (http://core:8080)".into() };
        let page = "<!doctype html><h1>Server Error (500)</h1>";
        let answers =
            [http(500, page), http(502, "<html>bad gateway</html>"), http(503, "<html>"), http(429, "{}")];
        for e in answers.into_iter().chain([http(408, ""), network]) {
            match judge(&e) {
                Judged::Unavailable(why) => {
                    assert!(!why.contains('<') && !why.contains("core:8080"), "{why}")
                }
                Judged::Refused(why) => panic!("{e} is an outage, not a refusal: {why}"),
            }
        }
    }

    #[test]
    fn the_log_shows_core_s_status_not_its_body() {
        let page = "<pre>HTTP_AUTHORIZATION = 'Signature keyId=...'</pre>";
        let shown = log_safe(&http(500, page));
        assert!(shown.contains("500") && !shown.contains("Signature"), "{shown}");
    }

    #[test]
    fn malformed_credentials_are_told_apart_from_missing_ones() {
        let sig = "Signature keyId=\"a\",algorithm=\"hmac-sha256\",headers=\"(request-target) date\",signature=\"aRGG937aPIwgxi/0pVV63oA4GMcVbOi5D7IUgObSdp0=\"";
        let creds = |authorization, date| Credentials { authorization, date, org: "ROOT" };
        assert_eq!(well_formed(&creds("", "D")), Err(Denied::Missing));
        assert_eq!(well_formed(&creds(sig, "")), Err(Denied::Malformed(Malformed::NoDate)));
        assert_eq!(well_formed(&creds("Bearer x", "D")), Err(Denied::Malformed(Malformed::NotASignature)));
        assert_eq!(well_formed(&creds(sig, "Thu, 13 Nov 2025 10:46:02 UTC")), Ok(()));
    }
}

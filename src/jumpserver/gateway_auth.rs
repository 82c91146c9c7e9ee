//! Checking a gateway (Lion) before it may upload: the `Authorization`,
//! `Date` and `X-JMS-ORG` headers it sends are replayed to core's profile
//! endpoint, which verifies the signature with the gateway's secret (the
//! worker never sees it). Only service accounts pass. Answers are cached
//! briefly, keyed by a hash of the headers (never the headers themselves),
//! so a burst of part uploads costs core one call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::core_client::{CoreClient, CoreError};

/// How long core's "yes" is trusted.
const ALLOW_TTL: Duration = Duration::from_secs(60);
/// How long a "no" is remembered (short: a retry after a fix must work).
const DENY_TTL: Duration = Duration::from_secs(5);
/// Entries kept at most (old ones are dropped first).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No or incomplete credentials.
    Missing,
    /// Core refused them, or they belong to a person, not a component.
    Refused(String),
    /// Core could not be asked; the gateway should retry (or fall back).
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
}

impl GatewayAuth {
    pub fn new(core: Arc<CoreClient>) -> GatewayAuth {
        GatewayAuth { core, cache: Mutex::new(HashMap::new()) }
    }

    /// The service account's name when the credentials are good.
    pub async fn check(&self, c: &Credentials<'_>) -> Verdict {
        if c.authorization.is_empty() || c.date.is_empty() {
            return Err(Denied::Missing);
        }
        let key = fingerprint(c);
        if let Some(answer) = self.cached(&key) {
            return answer;
        }
        let org = if c.org.is_empty() { "ROOT" } else { c.org };
        let answer = match self.core.profile_of(c.authorization, c.date, org).await {
            Ok(user) if user["is_service_account"].as_bool() == Some(true) => {
                Ok(user["username"].as_str().or(user["name"].as_str()).unwrap_or("component").to_string())
            }
            Ok(_) => Err(Denied::Refused("not a service account".into())),
            Err(e) => match judge(&e) {
                Judged::Refused(why) => Err(Denied::Refused(why)),
                Judged::Unavailable(why) => {
                    // The cause (core's address, its answer) is for the admin, not the caller.
                    tracing::warn!(error = %e, "cannot check a gateway's credentials with core");
                    return Err(Denied::Unavailable(why));
                }
            },
        };
        self.remember(key, answer.clone());
        answer
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

enum Judged {
    Refused(String),
    Unavailable(String),
}

/// What core's failure to vouch for the credentials means to the gateway,
/// in words that carry nothing of core's answer: the caller is not yet
/// authenticated, and core's body can be an HTML error page. Any answer of
/// core itself is a "no" (401, 403, 400, and the 500 core answers when a
/// signature leaves out `date`): the credentials will not pass by asking
/// again. Only a core that cannot be reached (no connection, a timeout, or
/// a proxy in front of it answering 502/503/504) leaves the question open.
fn judge(e: &CoreError) -> Judged {
    match e {
        CoreError::Unauthorized => Judged::Refused("core refused the signature (401)".into()),
        CoreError::Http { status: status @ (502..=504), .. } => {
            Judged::Unavailable(format!("core is unavailable ({status})"))
        }
        CoreError::Http { status, .. } => {
            Judged::Refused(format!("core did not accept the signature ({status})"))
        }
        CoreError::Network { .. } => Judged::Unavailable("core cannot be reached".into()),
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
    fn every_answer_of_core_is_a_refusal_that_carries_nothing_of_it() {
        let page = "<!doctype html><h1>Server Error (500)</h1>";
        for e in [CoreError::Unauthorized, http(400, "{}"), http(403, "{}"), http(404, "{}"), http(500, page)]
        {
            match judge(&e) {
                Judged::Refused(why) => assert!(!why.contains('<') && !why.contains('{'), "{why}"),
                Judged::Unavailable(why) => panic!("{e} is core's answer, not an outage: {why}"),
            }
        }
    }

    #[test]
    fn only_a_core_out_of_reach_is_unavailable() {
        let network =
            CoreError::Network { what: "x".into(), cause: "connection refused (http://core:8080)".into() };
        for e in [network, http(502, "<html>bad gateway</html>"), http(503, "<html>")] {
            match judge(&e) {
                Judged::Unavailable(why) => {
                    assert!(!why.contains('<') && !why.contains("core:8080"), "{why}")
                }
                Judged::Refused(why) => panic!("{e} is an outage, not a refusal: {why}"),
            }
        }
    }
}

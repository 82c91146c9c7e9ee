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
            Err(CoreError::Unauthorized) => Err(Denied::Refused("core refused the signature".into())),
            Err(CoreError::Http { status, .. }) if (400..500).contains(&status) => {
                Err(Denied::Refused(format!("core answered {status}")))
            }
            Err(e) => return Err(Denied::Unavailable(e.to_string())),
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

/// A hash of the credentials: the cache never holds a usable header.
fn fingerprint(c: &Credentials<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [c.authorization, c.date, c.org] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

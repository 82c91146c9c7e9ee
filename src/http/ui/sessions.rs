//! The console's sign-in sessions: a random id in an HttpOnly, SameSite
//! Strict cookie, and a CSRF token the page sends back with every action.
//! Kept in memory: a restart signs everyone out, which is the safe way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

pub const COOKIE: &str = "vw_console";
/// How long a sign-in lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sign-ins kept at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session: (cookie value, CSRF token).
    pub fn create(&self) -> (String, String) {
        let (id, csrf) = (random_token(), random_token());
        let mut all = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        all.retain(|_, s| s.expires > now);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), Session { csrf: csrf.clone(), expires: now + LIFETIME });
        (id, csrf)
    }

    /// The CSRF token of the signed-in session the request's cookie names.
    pub fn csrf_of(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers)?;
        let all = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        all.get(id).filter(|s| s.expires > Instant::now()).map(|s| s.csrf.clone())
    }

    pub fn remove(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.by_id.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        }
    }
}

/// Our cookie's value in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// 32 random bytes, hex.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::COOKIE, format!("other=1; {COOKIE}={value}").parse().unwrap());
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_removed() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.create();
        assert_ne!(id, csrf);
        assert_eq!(sessions.csrf_of(&with_cookie(&id)), Some(csrf));
        assert_eq!(sessions.csrf_of(&with_cookie("forged")), None);
        sessions.remove(&with_cookie(&id));
        assert_eq!(sessions.csrf_of(&with_cookie(&id)), None);
    }
}

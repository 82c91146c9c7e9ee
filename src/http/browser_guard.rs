//! Keeps other web pages away from what loopback trust grants.
//!
//! Without `VIDEO_WORKER_API_TOKEN` the standalone API and the console trust
//! every loopback caller, and a browser on the admin's machine is one: a
//! page on any site can post a form to `http://127.0.0.1:9000` (a multipart
//! POST needs no preflight), and a page whose name is rebound to 127.0.0.1
//! (DNS rebinding) reads the answers with same-origin fetches. So there, a
//! request is served only when
//! - its `Host` is a loopback name or address, or a name in `ALLOWED_HOSTS`
//!   (a rebinding page sends its own name: this is what stops it);
//! - it carries no foreign `Origin` (one naming another host, or `null`):
//!   a cross-site form sends the page's origin;
//! - it does not say `Sec-Fetch-Site: cross-site`.
//!
//! With a token the API answers any `Host` (a client proves itself with the
//! token), but a console session (its cookie) still must not come from
//! another origin. Gateways, health and `/metrics` are not guarded here:
//! their callers are not browsers, or prove themselves (see
//! docs/security.md).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Distinct (source, reason) pairs warned about at most; then one more
/// line says the rest are not logged.
const MAX_WARNED: usize = 1024;

#[derive(Clone)]
pub struct BrowserGuard {
    /// Host names served besides loopback ones (`ALLOWED_HOSTS`), lowercase.
    allowed: Arc<[String]>,
    /// Whether `VIDEO_WORKER_API_TOKEN` is set.
    token: bool,
    warned: Arc<Mutex<Warned>>,
}

/// (source, reason) pairs already logged.
type Warned = HashSet<(Option<IpAddr>, String)>;

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `Host` is not loopback nor allowed (or missing).
    Host(String),
    /// `Origin` names another site.
    Origin(String),
    /// `Sec-Fetch-Site: cross-site`.
    CrossSite,
}

impl BrowserGuard {
    pub fn new(allowed_hosts: &[String], token: bool) -> BrowserGuard {
        let allowed: Vec<String> = allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        BrowserGuard { allowed: allowed.into(), token, warned: Arc::default() }
    }

    /// Whether the request may pass; `session` says it carries a console cookie.
    pub fn judge(&self, headers: &HeaderMap, session: bool) -> Result<(), Refused> {
        let trusted_by_place = !self.token;
        if !trusted_by_place && !session {
            return Ok(()); // a token client: nothing changes
        }
        let host = header_text(headers, header::HOST);
        if trusted_by_place && !self.host_allowed(&host) {
            return Err(Refused::Host(host));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null").trim().to_string();
            if !same_origin(&origin, &host) {
                return Err(Refused::Origin(origin));
            }
        }
        let site = header_text(headers, "sec-fetch-site");
        if site.eq_ignore_ascii_case("cross-site") {
            return Err(Refused::CrossSite);
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if host.is_empty() {
            return false;
        }
        if self.allowed.contains(&host) {
            return true; // an entry with its port
        }
        let name = strip_port(&host);
        is_loopback_name(name) || self.allowed.iter().any(|a| a == name)
    }

    /// Logs a refusal at WARN the first time a source makes it.
    fn warn_once(&self, peer: Option<IpAddr>, refused: &Refused, path: &str) {
        let reason = format!("{refused:?}");
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.len() > MAX_WARNED {
            return;
        }
        if warned.len() == MAX_WARNED {
            warned.insert((None, String::new()));
            tracing::warn!("more requests from other web pages were refused; they are no longer logged");
            return;
        }
        if warned.insert((peer, reason)) {
            let peer = peer.map(|p| p.to_string()).unwrap_or_default();
            tracing::warn!(%peer, path, refused = %refused.describe(), "request refused: it may come from another web page (the same source is not logged again)");
        }
    }
}

impl Refused {
    fn code(&self) -> &'static str {
        match self {
            Refused::Host(_) => "foreign_host",
            Refused::Origin(_) | Refused::CrossSite => "cross_origin",
        }
    }

    fn describe(&self) -> String {
        match self {
            Refused::Host(h) if h.is_empty() => "no Host header".into(),
            Refused::Host(h) => format!("Host {h:?} is not a loopback name nor in ALLOWED_HOSTS"),
            Refused::Origin(o) => format!("Origin {o:?} is another site"),
            Refused::CrossSite => "Sec-Fetch-Site: cross-site".into(),
        }
    }

    fn message(&self) -> String {
        let why = match self {
            Refused::Host(_) => {
                "without VIDEO_WORKER_API_TOKEN only requests to a loopback name (localhost, 127.0.0.1, [::1]) \
                 or to a name in ALLOWED_HOSTS are served"
            }
            Refused::Origin(_) | Refused::CrossSite => "requests from other web pages are refused",
        };
        format!("{}: {why} (docs/security.md)", self.describe())
    }
}

/// The middleware: refuses what [`BrowserGuard::judge`] refuses, with JSON.
pub async fn check(State(guard): State<BrowserGuard>, request: Request, next: Next) -> Response {
    let session = has_console_cookie(request.headers());
    match guard.judge(request.headers(), session) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            guard.warn_once(peer, &refused, request.uri().path());
            let body = serde_json::json!({ "code": refused.code(), "message": refused.message() });
            (StatusCode::FORBIDDEN, Json(body)).into_response()
        }
    }
}

fn has_console_cookie(headers: &HeaderMap) -> bool {
    let prefix = format!("{}=", super::ui::sessions::COOKIE);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().starts_with(&prefix)))
}

fn header_text(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_string()
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` without the port.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `localhost` and loopback addresses: only this machine can be reached
/// by them, whatever a DNS server says.
fn is_loopback_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request went to.
pub(super) fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false; // "null" and anything else unusable
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or("");
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn without_a_token_only_loopback_or_allowed_hosts_pass() {
        let g = BrowserGuard::new(&["worker.internal".into(), "gw.example:8443".into()], false);
        for host in [
            "127.0.0.1:9000",
            "localhost:9000",
            "[::1]:9000",
            "127.9.9.9",
            "LOCALHOST",
            "worker.internal:9000",
            "gw.example:8443",
        ] {
            assert_eq!(g.judge(&headers(&[("host", host)]), false), Ok(()), "{host}");
        }
        for host in [
            "evil.example:9000",
            "worker.internal.evil:9000",
            "gw.example:9000",
            "10.0.0.5:9000",
            "127.0.0.1.nip.io",
            "foo.localhost",
        ] {
            assert!(matches!(g.judge(&headers(&[("host", host)]), false), Err(Refused::Host(_))), "{host}");
        }
        assert!(matches!(g.judge(&HeaderMap::new(), false), Err(Refused::Host(_))), "no Host");
    }

    #[test]
    fn a_foreign_origin_or_a_cross_site_fetch_is_refused() {
        let g = BrowserGuard::new(&[], false);
        let host = ("host", "127.0.0.1:9000");
        assert_eq!(g.judge(&headers(&[host, ("origin", "http://127.0.0.1:9000")]), false), Ok(()));
        assert_eq!(g.judge(&headers(&[host, ("sec-fetch-site", "same-origin")]), false), Ok(()));
        for origin in
            ["http://evil.example:9000", "null", "http://127.0.0.1:3000", "file://", "http://localhost:9000"]
        {
            let got = g.judge(&headers(&[host, ("origin", origin)]), false);
            assert!(matches!(got, Err(Refused::Origin(_))), "{origin}: {got:?}");
        }
        let got = g.judge(&headers(&[host, ("sec-fetch-site", "cross-site")]), false);
        assert_eq!(got, Err(Refused::CrossSite));
    }

    #[test]
    fn with_a_token_clients_are_unchanged_but_console_sessions_stay_same_origin() {
        let g = BrowserGuard::new(&[], true);
        let evil = [("host", "evil.example:9000"), ("origin", "http://other.example")];
        assert_eq!(g.judge(&headers(&evil), false), Ok(()), "a token client");
        assert!(matches!(g.judge(&headers(&evil), true), Err(Refused::Origin(_))));
        let rebound = [("host", "evil.example:9000"), ("origin", "http://evil.example:9000")];
        assert_eq!(
            g.judge(&headers(&rebound), true),
            Ok(()),
            "the cookie is not sent to another name anyway"
        );
        let cross = [("host", "127.0.0.1:9000"), ("sec-fetch-site", "cross-site")];
        assert_eq!(g.judge(&headers(&cross), true), Err(Refused::CrossSite));
    }
}

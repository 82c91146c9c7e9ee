//! Talking to JumpServer core: registration with `BOOTSTRAP_TOKEN`, signed
//! calls (every one carries `Date`, the HTTP signature and `X-JMS-ORG: ROOT`),
//! the profile check, the terminal config and the REST heartbeat.
//! rustls only; `IGNORE_VERIFY_CERTS` turns certificate checks off.

use std::sync::RwLock;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::signer::{AccessKey, authorization, http_date};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("core refused the access key (401): it was revoked or belongs to another core")]
    Unauthorized,
    #[error(
        "core refused the registration (403): it accepts new components only within 300 s of its start \
         (SECURITY_SERVICE_ACCOUNT_REGISTRATION=auto); restart core, or set that option to true, then this worker registers"
    )]
    RegistrationClosed,
    #[error("core refused the registration: the NAME {0:?} is already taken; give this worker another NAME")]
    NameTaken(String),
    #[error("core answered {status} to {what}: {body}")]
    Http { what: String, status: u16, body: String },
    #[error("cannot reach core for {what}: {cause}")]
    Network { what: String, cause: String },
    #[error(
        "BOOTSTRAP_TOKEN is not set and there is no valid stored access key: set it to register with core"
    )]
    NoBootstrapToken,
    #[error("the access key file {path}: {cause}")]
    KeyFile { path: String, cause: String },
}

impl CoreError {
    /// Whether asking again later can succeed: core was out of reach, or
    /// answered that it cannot serve now (5xx, 408, 429). Anything else is
    /// core's considered answer to this request and stays the same.
    pub fn is_transient(&self) -> bool {
        match self {
            CoreError::Network { .. } => true,
            CoreError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

pub struct CoreClient {
    base: String,
    http: reqwest::Client,
    key: RwLock<Option<AccessKey>>,
    ignore_verify_certs: bool,
}

/// Time limit of one call (sdk-go uses at least 30 s).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit of one lifecycle event: a courtesy that the task waits for,
/// so a hanging core must not hold the task for the full call limit.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

impl CoreClient {
    pub fn new(core_host: &str, ignore_verify_certs: bool) -> Result<CoreClient, String> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .danger_accept_invalid_certs(ignore_verify_certs)
            .user_agent(concat!("video-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("CORE_HOST: cannot build the HTTP client: {e}"))?;
        Ok(CoreClient {
            base: core_host.trim_end_matches('/').to_string(),
            http,
            key: RwLock::new(None),
            ignore_verify_certs,
        })
    }

    /// `CORE_HOST` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A TLS configuration that accepts any certificate, when
    /// `IGNORE_VERIFY_CERTS` asks for it; `None` means verify normally.
    pub fn insecure_tls(&self) -> Option<std::sync::Arc<rustls::ClientConfig>> {
        self.ignore_verify_certs.then(super::insecure_tls::config)
    }

    pub fn set_key(&self, key: AccessKey) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    pub fn key(&self) -> Option<AccessKey> {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `POST /api/v1/terminal/terminal-registrations/` with the bootstrap token.
    pub async fn register(&self, name: &str, bootstrap_token: &str) -> Result<AccessKey, CoreError> {
        let what = "registration";
        let body = json!({ "name": name, "comment": "video_worker", "type": "video_worker" });
        let response = self
            .http
            .post(format!("{}/api/v1/terminal/terminal-registrations/", self.base))
            .header("Authorization", format!("BootstrapToken {bootstrap_token}"))
            .header("X-JMS-ORG", "ROOT")
            .json(&body)
            .send()
            .await
            .map_err(|e| network(what, e))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        match status {
            StatusCode::FORBIDDEN => return Err(CoreError::RegistrationClosed),
            StatusCode::BAD_REQUEST if text.contains("not unique") => {
                return Err(CoreError::NameTaken(name.into()));
            }
            s if !s.is_success() => return Err(http_error(what, s, &text)),
            _ => {}
        }
        let value: Value =
            serde_json::from_str(&text).map_err(|e| http_error(what, status, &e.to_string()))?;
        let ak = &value["service_account"]["access_key"];
        match (ak["id"].as_str(), ak["secret"].as_str()) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                Ok(AccessKey { id: id.into(), secret: secret.into() })
            }
            _ => Err(http_error(what, status, "the answer carries no service_account.access_key")),
        }
    }

    /// A request to `path` with the date, signature and org headers set.
    fn signed(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, CoreError> {
        let key = self.key().ok_or(CoreError::Unauthorized)?;
        let date = http_date();
        Ok(self
            .http
            .request(method.clone(), format!("{}{}", self.base, path))
            .header("Date", &date)
            .header("Authorization", authorization(&key, method.as_str(), path, &date))
            .header("X-JMS-ORG", "ROOT")
            .header("Accept", "application/json"))
    }

    /// A signed call; `None` body for GET.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CoreError> {
        let mut request = self.signed(method, path)?;
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| network(path, e))?;
        self.answer(path, response).await
    }

    async fn answer(&self, path: &str, response: reqwest::Response) -> Result<Value, CoreError> {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        judge_answer(path, status, &text)
    }

    /// `POST /api/v1/terminal/sessions/<sid>/replay/`: a multipart form with
    /// `version` and then `file`, streamed from disk. The length is computed
    /// first and sent as `Content-Length`: core (Django) cannot parse a
    /// chunked multipart body.
    pub async fn upload_replay(
        &self,
        session_id: &str,
        version: u8,
        file: &std::path::Path,
        file_name: &str,
    ) -> Result<Value, CoreError> {
        let path = format!("/api/v1/terminal/sessions/{session_id}/replay/");
        let local =
            |e: std::io::Error| CoreError::KeyFile { path: file.display().to_string(), cause: e.to_string() };
        let size = tokio::fs::metadata(file).await.map_err(local)?.len();
        let boundary = format!("video-worker-{:016x}", rand::random::<u64>());
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n{version}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let length = head.len() as u64 + size + tail.len() as u64;
        let reader = tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::open(file).await.map_err(local)?,
            1 << 20,
        );
        let body =
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(head)) })
                .chain(reader)
                .chain(futures_util::stream::once(async move { Ok(bytes::Bytes::from(tail)) }));
        let response = self
            .signed(Method::POST, &path)?
            .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
            .header("Content-Length", length)
            .body(reqwest::Body::wrap_stream(body))
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| network(&path, e))?;
        self.answer(&path, response).await
    }

    /// Tells core the session has a replay: `PATCH /api/v1/terminal/sessions/<sid>/`
    /// with `has_replay` and `replay_size` (the bytes of everything stored).
    pub async fn mark_replay(&self, session_id: &str, replay_size: u64) -> Result<(), CoreError> {
        let body = json!({"has_replay": true, "replay_size": replay_size});
        self.call(Method::PATCH, &format!("/api/v1/terminal/sessions/{session_id}/"), Some(&body))
            .await
            .map(|_| ())
    }

    /// Records why a session has no usable replay (`replay_convert_failed`, ...).
    pub async fn mark_replay_error(&self, session_id: &str, reason: &str) -> Result<(), CoreError> {
        let body = json!({"error_reason": reason});
        self.call(Method::PATCH, &format!("/api/v1/terminal/sessions/{session_id}/"), Some(&body))
            .await
            .map(|_| ())
    }

    /// A session lifecycle event (`replay_convert_start`, `replay_upload_success`, ...).
    /// Core's serializer refuses a blank `reason` with 400 ("This field may
    /// not be blank."), so it is sent only when there is one, as sdk-go does;
    /// `user` is never sent: the worker acts for nobody. Core answers 200.
    pub async fn lifecycle(&self, session_id: &str, event: &str, reason: &str) -> Result<(), CoreError> {
        let body = lifecycle_body(event, reason);
        let path = format!("/api/v1/terminal/sessions/{session_id}/lifecycle_log/");
        let response = self
            .signed(Method::POST, &path)?
            .json(&body)
            .timeout(EVENT_TIMEOUT)
            .send()
            .await
            .map_err(|e| network(&path, e))?;
        self.answer(&path, response).await.map(|_| ())
    }

    /// `GET /api/v1/users/profile/` with another component's own `Authorization`,
    /// `Date` and `X-JMS-ORG` headers: core checks their signature for us
    /// (the gateways' "ProfileAuth"), and answers with that component's user.
    /// A gateway waits for this, so it has its own `timeout`, and a body
    /// that breaks off is a [`CoreError::Network`] (core did not answer),
    /// never an empty answer that would read as "not a service account".
    pub async fn profile_of(
        &self,
        authorization: &str,
        date: &str,
        org: &str,
        timeout: Duration,
    ) -> Result<Value, CoreError> {
        let path = "/api/v1/users/profile/";
        let response = self
            .http
            .get(format!("{}{}", self.base, path))
            .header("Authorization", authorization)
            .header("Date", date)
            .header("X-JMS-ORG", org)
            .header("Accept", "application/json")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| network(path, e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| network(path, e))?;
        judge_answer(path, status, &text)
    }

    /// `GET /api/v1/users/profile/`: validates the key (the answer has an `id`).
    pub async fn profile(&self) -> Result<Value, CoreError> {
        let profile = self.call(Method::GET, "/api/v1/users/profile/", None).await?;
        if profile.get("id").is_none() {
            return Err(CoreError::Unauthorized);
        }
        Ok(profile)
    }

    /// `GET /api/v1/terminal/terminals/config/`.
    pub async fn terminal_config(&self) -> Result<Value, CoreError> {
        self.call(Method::GET, "/api/v1/terminal/terminals/config/", None).await
    }

    /// `POST /api/v1/terminal/terminals/status/` (the REST heartbeat).
    pub async fn heartbeat(&self, payload: &Value) -> Result<Value, CoreError> {
        self.call(Method::POST, "/api/v1/terminal/terminals/status/", Some(payload)).await
    }
}

/// Core's answer as a value or an error.
fn judge_answer(path: &str, status: StatusCode, text: &str) -> Result<Value, CoreError> {
    // Core's replay upload answers an invalid form with 401 {"msg": <errors>}
    // (sic): that says nothing about the key, and its errors are the cause.
    if status == StatusCode::UNAUTHORIZED && !is_form_error(text) {
        return Err(CoreError::Unauthorized);
    }
    if !status.is_success() {
        return Err(http_error(path, status, text));
    }
    Ok(serde_json::from_str(text).unwrap_or(Value::Null))
}

/// The body of a lifecycle event: `reason` only when it is not blank (core
/// trims it before it checks, so whitespace counts as blank).
fn lifecycle_body(event: &str, reason: &str) -> Value {
    let mut body = json!({ "event": event });
    if !reason.trim().is_empty() {
        body["reason"] = json!(reason);
    }
    body
}

/// `{"msg": ...}`: the shape of core's replay-form errors, never of its
/// authentication failures (`{"detail": ...}`).
fn is_form_error(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v.get("msg").is_some() && v.get("detail").is_none())
}

fn network(what: &str, e: reqwest::Error) -> CoreError {
    CoreError::Network { what: what.to_string(), cause: e.to_string() }
}

fn http_error(what: &str, status: StatusCode, body: &str) -> CoreError {
    let body: String = body.chars().take(300).collect();
    CoreError::Http { what: what.to_string(), status: status.as_u16(), body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifecycle_event_carries_a_reason_only_when_there_is_one() {
        assert_eq!(lifecycle_body("replay_convert_start", ""), json!({"event": "replay_convert_start"}));
        assert_eq!(lifecycle_body("replay_convert_start", " \n"), json!({"event": "replay_convert_start"}));
        assert_eq!(
            lifecycle_body("replay_upload_failure", "storage down"),
            json!({"event": "replay_upload_failure", "reason": "storage down"})
        );
    }

    #[test]
    fn a_401_with_form_errors_is_not_a_revoked_key() {
        assert!(is_form_error(r#"{"msg": {"version": ["Ensure this value is less than or equal to 5."]}}"#));
        assert!(!is_form_error(r#"{"detail": "Invalid signature."}"#));
        assert!(!is_form_error("<html>"));
    }

    #[test]
    fn only_outages_and_overload_are_transient() {
        let http = |status| CoreError::Http { what: "x".into(), status, body: String::new() };
        let network = CoreError::Network { what: "x".into(), cause: "refused".into() };
        assert!(network.is_transient());
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(http(status).is_transient(), "{status}");
        }
        for status in [400, 403, 404, 405, 409] {
            assert!(!http(status).is_transient(), "{status}");
        }
        assert!(!CoreError::Unauthorized.is_transient());
    }
}

//! A Lion-shaped client: sends, byte for byte, what Lion's Go code sends to
//! a video worker (sdk-go `service/videoworker`): Go's header order and
//! canonical names, `Go-http-client/1.1`, `encoding/json` output with Go
//! field names in `config`, and `mime/multipart` bodies (a 60-hex-digit
//! boundary, `CreateFormFile` part headers), over a plain TCP connection so
//! no client library adds or reorders anything.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use video_worker::jumpserver::signer::{AccessKey, authorization, http_date};

pub struct Lion {
    pub key: AccessKey,
    /// `host:port` of the worker.
    pub worker: String,
    /// Cookies the worker set (sdk-go's jar replays them all).
    pub cookies: Vec<String>,
}

/// A response: status, headers (lowercase names) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// How a request is signed.
#[derive(Clone, Copy, PartialEq)]
pub enum Auth {
    /// sdk-go `ProfileAuth` (Lion ≥ 3.10.8): signed for core's profile URL.
    Profile,
    /// `httplib.SigAuth` (Lion ≤ 3.10.7): signed for the real request.
    RealPath,
    /// ProfileAuth whose `headers` leaves out `date` (`headers="(request-target)"`),
    /// with the `Date` header still sent: core's verifier raises on it (500, HTML).
    ProfileWithoutDate,
    None,
}

/// An HTTP signature over `(request-target)` alone.
fn sign_without_date(key: &AccessKey, method: &str, path: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key.secret.as_bytes()).unwrap();
    mac.update(format!("(request-target): {} {path}", method.to_lowercase()).as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(
        r#"Signature keyId="{}",algorithm="hmac-sha256",headers="(request-target)",signature="{signature}""#,
        key.id
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `mime/multipart` random boundary: 30 random bytes in hex.
fn go_boundary() -> String {
    (0..30).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// A Go `multipart.Writer` body: text fields (`WriteField`), then the file
/// (`CreateFormFile`), then the closing boundary.
pub fn go_multipart(fields: &[(&str, &str)], file_name: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = go_boundary();
    let mut body = Vec::new();
    let mut first = true;
    let mut open = |body: &mut Vec<u8>| {
        let sep = if first { "" } else { "\r\n" };
        first = false;
        body.extend_from_slice(format!("{sep}--{boundary}\r\n").as_bytes());
    };
    for (name, value) in fields {
        open(&mut body);
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}").as_bytes(),
        );
    }
    open(&mut body);
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Lion {
    pub fn new(key: (String, String), worker_port: u16) -> Lion {
        Lion {
            key: AccessKey { id: key.0, secret: key.1 },
            worker: format!("127.0.0.1:{worker_port}"),
            cookies: Vec::new(),
        }
    }

    /// One HTTP/1.1 request as Go's transport writes it: Host, User-Agent,
    /// Content-Length, the other headers sorted by name, Accept-Encoding.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        auth: Auth,
    ) -> Answer {
        let date = http_date();
        let signed = match auth {
            Auth::Profile => Some(authorization(&self.key, "GET", "/api/v1/users/profile/", &date)),
            Auth::RealPath => Some(authorization(&self.key, method, path, &date)),
            Auth::ProfileWithoutDate => Some(sign_without_date(&self.key, "GET", "/api/v1/users/profile/")),
            Auth::None => None,
        };
        let headers = match &signed {
            Some(a) => vec![("Authorization", a.as_str()), ("Date", date.as_str())],
            None => Vec::new(),
        };
        self.send_with(method, path, content_type, body, &headers)
    }

    /// ProfileAuth's two headers, `(Authorization, Date)`, for a request
    /// that must be sent twice exactly alike.
    pub fn profile_headers(&self) -> (String, String) {
        let date = http_date();
        (authorization(&self.key, "GET", "/api/v1/users/profile/", &date), date)
    }

    /// `send` with the authentication headers given as they are (none, a
    /// malformed one, the same pair again).
    pub fn send_with(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        auth_headers: &[(&str, &str)],
    ) -> Answer {
        let mut headers: Vec<(String, String)> =
            auth_headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(ct) = content_type {
            headers.push(("Content-Type".into(), ct.into()));
        }
        if !self.cookies.is_empty() {
            headers.push(("Cookie".into(), self.cookies.join("; ")));
        }
        headers.push(("X-Jms-Org".into(), "ROOT".into()));
        headers.sort();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Go-http-client/1.1\r\n",
            self.worker
        );
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("Accept-Encoding: gzip\r\nConnection: close\r\n\r\n");
        let mut stream = TcpStream::connect(&self.worker).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        // A refusal may come before the whole body is read; that is an answer too.
        let _ = stream.write_all(body);
        let answer = read_answer(&mut stream);
        for (k, v) in &answer.headers {
            if k == "set-cookie" {
                self.cookies.push(v.split(';').next().unwrap_or("").to_string());
            }
        }
        answer
    }

    /// P2 step 2: `CreateReplaySessionTask` with the Go-encoded JSON body.
    pub fn create_task(
        &mut self,
        sid: &str,
        width: u32,
        height: u32,
        files: &[(String, Vec<u8>)],
        with_checksums: bool,
    ) -> Answer {
        let body = task_json(sid, width, height, files, with_checksums);
        self.send(
            "POST",
            &format!("/api/v2/replay/sessions/{sid}/task/"),
            Some("application/json"),
            body.as_bytes(),
            Auth::Profile,
        )
    }

    /// P2 step 3: one part, as `PostFileWithFields(url, path, {}, &resp)`.
    pub fn upload_part(&mut self, task_id: &str, index: usize, name: &str, data: &[u8]) -> Answer {
        let (ct, body) = go_multipart(&[], name, data);
        let path = format!("/api/v2/replay/sessions/{task_id}/task/upload/{index}");
        self.send("POST", &path, Some(&ct), &body, Auth::Profile)
    }

    /// The whole P2 flow, as Lion runs it: create, then every part in order.
    pub fn upload_session(&mut self, sid: &str, files: &[(String, Vec<u8>)]) -> Result<String, String> {
        let created = self.create_task(sid, 1024, 768, files, true);
        if created.status >= 400 {
            return Err(format!("create: {} {}", created.status, String::from_utf8_lossy(&created.body)));
        }
        let id = created.json()["id"].as_str().unwrap_or("").to_string();
        for (i, (name, data)) in files.iter().enumerate() {
            let a = self.upload_part(&id, i, name, data);
            if a.json()["ok"] != Value::Bool(true) {
                return Err(format!("part {i}: {} {}", a.status, String::from_utf8_lossy(&a.body)));
            }
        }
        Ok(id)
    }

    /// P1 (legacy): fields omitted when empty or "0", then the file.
    pub fn legacy_create(
        &mut self,
        sid: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        data: &[u8],
        auth: Auth,
    ) -> Answer {
        let (ct, body) = go_multipart(fields, file_name, data);
        self.send("POST", &format!("/api/v2/replay/sessions/{sid}/task/"), Some(&ct), &body, auth)
    }

    /// Old Lions' `Login()`: the worker's profile URL, signed for itself.
    pub fn legacy_login(&mut self) -> Answer {
        self.send("GET", "/api/v1/users/profile/", None, b"", Auth::RealPath)
    }
}

/// `ReplayMeta` and `TaskConfig` as Go's `encoding/json` writes them.
pub fn task_json(
    sid: &str,
    width: u32,
    height: u32,
    files: &[(String, Vec<u8>)],
    with_checksums: bool,
) -> String {
    let start = 1_763_027_999_123i64;
    let entries: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            let (s, e) = (start + i as i64 * 60_000, start + (i as i64 + 1) * 60_000);
            let checksum =
                if with_checksums { format!(r#","checksum":"{}""#, sha256_hex(data)) } else { String::new() };
            format!(
                r#"{{"name":"{name}","start":{s},"end":{e},"duration":{},"size":{}{checksum}}}"#,
                e - s,
                data.len() * 3
            )
        })
        .collect();
    format!(
        r#"{{"config":{{"MaxFrame":0,"Width":{width},"Height":{height},"Bitrate":1}},"meta":{{"id":"{sid}","user":"Administrator(admin)","asset":"win2019(10.0.0.5)","account":"Administrator(administrator)","login_from":"WT","remote_addr":"10.0.0.9","protocol":"rdp","org_id":"00000000-0000-0000-0000-000000000002","user_id":"7b1b0fbc-9cd4-4b4e-a4b4-3f1d6b2c7b8a","asset_id":"5a7e2a3c-2b0e-4e0f-9d0c-1c7e9d0e2a11","account_id":"9c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f","date_start":"2025-11-13 10:00:00 +0000","date_end":"2025-11-13 10:45:00 +0000","type":"guacamole","files":[{}]}}}}"#,
        entries.join(",")
    )
}

fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw.get(split + 4..).unwrap_or(&[]).to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Answer { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// Gzips like Lion does before uploading a part.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

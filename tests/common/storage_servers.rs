//! Real storage servers on loopback for the integration tests — moto (S3) and
//! Azurite (Azure Blob), installed by scripts/storage-servers.sh — and a TCP
//! proxy that cuts connections the way a network failure would.
//!
//! Where a server is not installed, `start` returns None and the test should
//! pass without it, unless VW_REQUIRE_STORAGE_SERVERS=1 (CI) makes a missing
//! server a failure.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::server::free_port;

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Any API version works: Azurite runs with --skipApiVersionCheck.
const AZURE_API_VERSION: &str = "2021-12-02";

// ---------------------------------------------------------------------------
// Finding and running the servers

fn required() -> bool {
    std::env::var("VW_REQUIRE_STORAGE_SERVERS").is_ok_and(|v| v == "1")
}

/// Where scripts/storage-servers.sh installs by default.
fn tools_dir() -> PathBuf {
    match std::env::var_os("VW_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/video-worker/tools"),
    }
}

/// The tool named by `env_var`, else `default` under the tools directory.
/// None when it is missing, unless the servers are required.
fn find_tool(env_var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| tools_dir().join(default));
    if path.is_file() {
        return Some(path);
    }
    let hint = "run `eval \"$(scripts/storage-servers.sh)\"` to install it";
    assert!(!required(), "{} ({env_var}) not found: {hint}", path.display());
    eprintln!("skipped: {} ({env_var}) not found; {hint}", path.display());
    None
}

/// An HTTP client that reports every status as a response and never waits
/// forever on a stuck server.
fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A server process with its own temporary directory (data and log); killed
/// on drop.
struct Process {
    child: Child,
    dir: tempfile::TempDir,
}

impl Process {
    fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Process {
        let log = File::create(dir.path().join("server.log")).unwrap();
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Process { child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Polls until the server answers `url` with any HTTP status.
    fn wait_ready(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while http().get(url).call().is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{url}: the server exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "{url}: no answer within 20 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a request; returns (status, body). Panics only when the server
/// cannot be reached at all.
fn send(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let mut resp = http().run(req.body(body).unwrap()).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let data = resp.body_mut().with_config().limit(u64::MAX).read_to_vec().unwrap();
    (resp.status().as_u16(), data)
}

fn url(base: &str, path: &str, query: &str) -> String {
    if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") }
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

// ---------------------------------------------------------------------------
// S3 (moto)

/// moto's S3 on a free loopback port, with one bucket. moto accepts any
/// credentials; the ones here are what a test should configure its client
/// with (path-style addressing, region us-east-1).
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    process: Process,
}

impl S3Server {
    pub fn start(bucket: &str) -> Option<S3Server> {
        let moto = find_tool("VW_MOTO", "moto-venv/bin/moto_server")?;
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(moto);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // moto spills large objects to temporary files: keep them in our directory.
            .env("TMPDIR", dir.path());
        let mut s3 = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
            region: "us-east-1".into(),
            access_key: "vwtestaccess".into(),
            secret_key: "vwtestsecret".into(),
            process: Process::spawn(cmd, dir),
        };
        s3.process.wait_ready(&s3.endpoint);
        let (status, body) = s3.request("PUT", None, &[], b"");
        assert_eq!(status, 200, "create bucket {bucket}: {}", text(&body));
        Some(s3)
    }

    /// `host:port`, e.g. for a FaultProxy target.
    pub fn addr(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// (key, size) of every object in the bucket, sorted by key.
    pub fn objects(&self) -> Vec<(String, u64)> {
        let xml = self.ok("GET", None, &[("list-type", "2")], b"");
        elements(&text(&xml), "Contents")
            .into_iter()
            .map(|c| (unescape(element(c, "Key")), element(c, "Size").parse().unwrap()))
            .collect()
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        self.ok("GET", Some(key), &[], b"")
    }

    pub fn put(&self, key: &str, data: &[u8]) {
        self.ok("PUT", Some(key), &[], data);
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn multipart_uploads_in_progress(&self) -> usize {
        let xml = self.ok("GET", None, &[("uploads", "")], b"");
        elements(&text(&xml), "Upload").len()
    }

    /// A SigV4-signed request on the bucket (`key` None) or an object.
    /// moto does not check signatures, but it refuses object reads without an
    /// `Authorization` header, and a real signature keeps this honest.
    pub fn request(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let path = match key {
            Some(k) => format!("/{}/{}", self.bucket, uri_encode(k, false)),
            None => format!("/{}", self.bucket),
        };
        let query = canonical_query(query);
        let mut headers = self.sigv4(method, &path, &query, chrono::Utc::now());
        // Without a content type moto (Flask) may parse the body as a form.
        headers.push(("Content-Type".into(), "application/octet-stream".into()));
        send(method, &url(&self.endpoint, &path, &query), &headers, body)
    }

    /// `request`, panicking unless the status is 2xx; returns the body.
    fn ok(&self, method: &str, key: Option<&str>, query: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let (status, resp) = self.request(method, key, query, body);
        assert!((200..300).contains(&status), "S3 {method} {key:?} {query:?}: {status} {}", text(&resp));
        resp
    }

    /// AWS Signature Version 4 headers, payload left unsigned.
    fn sigv4(
        &self,
        method: &str,
        path: &str,
        query: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, String)> {
        let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
        let day = &stamp[..8];
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let payload = "UNSIGNED-PAYLOAD";
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n\n{signed}\n{payload}",
            self.addr()
        );
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let to_sign = format!("AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}", hex(&Sha256::digest(canonical)));
        let mut key = format!("AWS4{}", self.secret_key).into_bytes();
        for part in [day, &self.region, "s3", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        );
        vec![
            ("Authorization".into(), auth),
            ("x-amz-content-sha256".into(), payload.into()),
            ("x-amz-date".into(), stamp),
        ]
    }
}

// ---------------------------------------------------------------------------
// Azure Blob (Azurite)

/// Azurite's blob service on a free loopback port, with one container, for
/// the development account.
pub struct AzureServer {
    /// `http://127.0.0.1:<port>/devstoreaccount1`
    pub endpoint: String,
    pub account_name: String,
    pub account_key: String,
    pub container: String,
    process: Process,
}

impl AzureServer {
    pub fn start(container: &str) -> Option<AzureServer> {
        let azurite = find_tool("VW_AZURITE", "azurite/node_modules/.bin/azurite-blob")?;
        let port = free_port().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(azurite);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port, "--location"])
            .arg(dir.path())
            // --loose: accept headers Azurite does not implement instead of failing;
            // --disableTelemetry: no attempts to reach applicationinsights (offline).
            .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"]);
        let mut az = AzureServer {
            endpoint: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"),
            account_name: AZURITE_ACCOUNT.into(),
            account_key: AZURITE_KEY.into(),
            container: container.to_string(),
            process: Process::spawn(cmd, dir),
        };
        az.process.wait_ready(&az.endpoint);
        let (status, body) = az.request("PUT", None, &[("restype", "container")], b"", &[]);
        assert_eq!(status, 201, "create container {container}: {}", text(&body));
        Some(az)
    }

    /// `host:port`, e.g. for a FaultProxy target.
    pub fn addr(&self) -> &str {
        let rest = self.endpoint.trim_start_matches("http://");
        rest.split('/').next().unwrap()
    }

    /// (name, size) of every blob in the container, sorted by name.
    pub fn objects(&self) -> Vec<(String, u64)> {
        let xml = self.ok("GET", None, &[("restype", "container"), ("comp", "list")], b"", &[]);
        elements(&text(&xml), "Blob")
            .into_iter()
            .map(|b| (unescape(element(b, "Name")), element(b, "Content-Length").parse().unwrap()))
            .collect()
    }

    pub fn get(&self, name: &str) -> Vec<u8> {
        self.ok("GET", Some(name), &[], b"", &[])
    }

    pub fn put(&self, name: &str, data: &[u8]) {
        self.ok("PUT", Some(name), &[], data, &[("x-ms-blob-type", "BlockBlob")]);
    }

    /// A Shared Key signed request on the container (`blob` None) or a blob;
    /// `x_ms` are extra `x-ms-*` headers.
    pub fn request(
        &self,
        method: &str,
        blob: Option<&str>,
        query: &[(&str, &str)],
        body: &[u8],
        x_ms: &[(&str, &str)],
    ) -> (u16, Vec<u8>) {
        let mut path = format!("/{}/{}", self.account_name, self.container);
        if let Some(name) = blob {
            path = format!("{path}/{}", uri_encode(name, false));
        }
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let mut headers: Vec<(String, String)> =
            x_ms.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        headers.push(("x-ms-date".into(), date));
        headers.push(("x-ms-version".into(), AZURE_API_VERSION.into()));
        let signature = self.shared_key(method, &path, query, body.len(), &headers);
        headers.push(("Authorization".into(), format!("SharedKey {}:{signature}", self.account_name)));
        let base = format!("http://{}", self.addr());
        send(method, &url(&base, &path, &canonical_query(query)), &headers, body)
    }

    /// `request`, panicking unless the status is 2xx; returns the body.
    fn ok(
        &self,
        method: &str,
        blob: Option<&str>,
        query: &[(&str, &str)],
        body: &[u8],
        x_ms: &[(&str, &str)],
    ) -> Vec<u8> {
        let (status, resp) = self.request(method, blob, query, body, x_ms);
        assert!((200..300).contains(&status), "Azure {method} {blob:?} {query:?}: {status} {}", text(&resp));
        resp
    }

    /// The Shared Key signature (API version 2015-02-21 and later). We send
    /// none of the standard headers it covers except Content-Length.
    fn shared_key(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        len: usize,
        headers: &[(String, String)],
    ) -> String {
        // A zero length is signed as empty.
        let length = if len == 0 { String::new() } else { len.to_string() };
        let mut to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n");
        let mut x_ms: Vec<_> = headers.iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
        x_ms.sort();
        for (name, value) in x_ms {
            to_sign.push_str(&format!("{name}:{value}\n"));
        }
        // Path-style (emulator) URLs carry the account in the path too, hence twice.
        to_sign.push_str(&format!("/{}{path}", self.account_name));
        let mut params: Vec<_> = query.iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
        params.sort();
        for (name, value) in params {
            to_sign.push_str(&format!("\n{name}:{value}"));
        }
        let key = base64::engine::general_purpose::STANDARD.decode(&self.account_key).unwrap();
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, to_sign.as_bytes()))
    }
}

// ---------------------------------------------------------------------------
// Small helpers: signing, URLs, XML

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes all but the unreserved characters (and `/` unless
/// `encode_slash`), as SigV4 wants it.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `a=1&b=` sorted by name: the SigV4 canonical form, also valid as a URL query.
fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<_> =
        query.iter().map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true))).collect();
    pairs.sort();
    pairs.join("&")
}

/// The contents of every `<tag>…</tag>` in `xml`, in order. Enough for the
/// flat listings S3 and Azure return; not a general XML parser.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let inner = &rest[start + open.len()..];
        let end = inner.find(&close).unwrap_or_else(|| panic!("unclosed <{tag}> in {xml}"));
        found.push(&inner[..end]);
        rest = &inner[end + close.len()..];
    }
    found
}

fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    elements(xml, tag).first().copied().unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

// ---------------------------------------------------------------------------
// Fault-injecting TCP proxy

/// A loopback TCP proxy in front of a server that can drop every connection
/// at once, like a network failure, and refuse new ones until restored.
pub struct FaultProxy {
    /// `127.0.0.1:<port>` to point the client at.
    pub addr: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    target: String,
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cut: bool,
    /// Client→server bytes passed on so far.
    forwarded: u64,
    /// The `forwarded` total at which to cut by itself.
    cut_at: Option<u64>,
    next_id: u64,
    /// Both sockets of every open connection, to shut them down on a cut.
    open: Vec<(u64, TcpStream, TcpStream)>,
}

impl FaultProxy {
    /// Proxies `127.0.0.1:<free port>` to `target` (`host:port`).
    pub fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Non-blocking, so the accept loop notices when it must stop.
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            target: target.to_string(),
            stop: AtomicBool::new(false),
            state: Mutex::default(),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(&listener, &shared))
        };
        FaultProxy { addr, shared, acceptor: Some(acceptor) }
    }

    /// Closes every open connection now and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.shared.cut();
    }

    pub fn restore(&self) {
        self.shared.state().cut = false;
    }

    /// Client→server bytes passed on since the start.
    pub fn bytes_forwarded(&self) -> u64 {
        self.shared.state().forwarded
    }

    /// Cuts by itself once `n` more client→server bytes have passed (exactly
    /// `n`: the rest of the chunk that crosses the mark is dropped).
    pub fn cut_after(&self, n: u64) {
        let mut state = self.shared.state();
        state.cut_at = Some(state.forwarded + n);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cut();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking pump thread must not take the whole proxy down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut(&self) {
        let mut state = self.state();
        state.cut = true;
        state.cut_at = None;
        for (_, client, server) in state.open.drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// Records an open connection; None when cut (the caller drops it).
    fn register(&self, client: &TcpStream, server: &TcpStream) -> Option<u64> {
        let mut state = self.state();
        if state.cut {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.open.push((id, client.try_clone().ok()?, server.try_clone().ok()?));
        Some(id)
    }

    fn forget(&self, id: u64) {
        let mut state = self.state();
        if let Some(i) = state.open.iter().position(|(open, _, _)| *open == id) {
            let (_, client, server) = state.open.swap_remove(i);
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// How many of `n` client bytes may pass, and whether that reaches the
    /// armed cut.
    fn admit(&self, n: usize) -> (usize, bool) {
        let mut state = self.state();
        if state.cut {
            return (0, false);
        }
        let pass = match state.cut_at {
            Some(at) => n.min(usize::try_from(at.saturating_sub(state.forwarded)).unwrap_or(usize::MAX)),
            None => n,
        };
        state.forwarded += pass as u64;
        (pass, state.cut_at.is_some_and(|at| state.forwarded >= at))
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let shared = shared.clone();
                std::thread::spawn(move || serve(client, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Connects one client to the target and pumps both ways until either side
/// closes or the proxy cuts.
fn serve(client: TcpStream, shared: &Arc<Shared>) {
    // While cut, a new client is accepted and dropped at once: refused.
    if shared.state().cut || client.set_nonblocking(false).is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(&shared.target) else { return };
    let Some(id) = shared.register(&client, &server) else { return };
    let (Ok(client_w), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        shared.forget(id);
        return;
    };
    let back = {
        let shared = shared.clone();
        std::thread::spawn(move || pump(&shared, id, server_r, client_w, false))
    };
    pump(shared, id, client, server, true);
    let _ = back.join();
}

/// Copies `from` to `to`; `upstream` is the counted client→server way.
fn pump(shared: &Shared, id: u64, mut from: TcpStream, mut to: TcpStream, upstream: bool) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (pass, cut_now) = if upstream { shared.admit(n) } else { (n, false) };
        if to.write_all(&buf[..pass]).is_err() {
            break;
        }
        if cut_now {
            shared.cut();
        }
        if pass < n || cut_now {
            break;
        }
    }
    // Either way ending ends the connection: HTTP clients do not half-close.
    shared.forget(id);
}

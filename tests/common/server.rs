//! The service on a free loopback port with its own data directory, and a
//! small HTTP client for it: either the real `video-worker serve` binary
//! (for restarts, `kill -9`, signals and logs) or, with [`spawn_app`], the
//! same service started in this process (fast; most API tests use it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    in_process: Option<InProcess>,
    pub port: u16,
    pub data: PathBuf,
    env: Vec<(String, String)>,
    pub token: Option<String>,
}

/// A service started with `video_worker::service::start` on its own runtime thread.
struct InProcess {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// The service in this process, on port 0, with `DATA_DIR` = `data` and
/// extra settings (`KEY=value` pairs as in `config.txt`); ready when it returns.
pub fn spawn_app(data: &Path, env: &[(&str, &str)]) -> Server {
    std::fs::create_dir_all(data).unwrap();
    let data_dir = data.display().to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("DATA_DIR", &data_dir),
        ("HTTPD_PORT", "0"),
        ("BIND_HOST", "127.0.0.1"),
        ("RETRY_MAX_DELAY_SECONDS", "2"),
    ];
    pairs.extend_from_slice(env);
    let config =
        video_worker::config::Config::from_sources(&video_worker::config::Sources::from_pairs(&pairs))
            .expect("a valid test configuration");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let running = match video_worker::service::start(config).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = addr_tx.send(Err(format!("{e:#}")));
                    return;
                }
            };
            let _ = addr_tx.send(Ok(running.addr.port()));
            let _ = stopped.await;
            running.shutdown.cancel();
            let _ = running.stopped().await;
        });
    });
    let port = addr_rx.recv().unwrap().unwrap_or_else(|e| panic!("the service did not start: {e}"));
    let token = env.iter().find(|(k, _)| *k == "VIDEO_WORKER_API_TOKEN").map(|(_, v)| v.to_string());
    let server = Server {
        child: None,
        in_process: Some(InProcess { stop, thread }),
        port,
        data: data.to_path_buf(),
        env: vec![],
        token,
    };
    server.wait_ready();
    server
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

impl Server {
    /// Starts the service with `DATA_DIR` = `data` and extra settings.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Server {
        let mut s = Server {
            child: None,
            in_process: None,
            port: free_port(),
            data: data.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            token: env.iter().find(|(k, _)| *k == "VIDEO_WORKER_API_TOKEN").map(|(_, v)| v.to_string()),
        };
        s.spawn();
        s
    }

    /// Starts the service without waiting for it to be healthy.
    pub fn start_unhealthy(data: &Path, env: &[(&str, &str)]) -> Server {
        let mut s = Server {
            child: None,
            in_process: None,
            port: free_port(),
            data: data.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            token: None,
        };
        s.launch();
        s
    }

    fn spawn(&mut self) {
        self.launch();
        self.wait_healthy();
    }

    /// The first answer of the health probe, healthy or not: (status, body).
    pub fn first_health(&self) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut r) = agent().get(self.url("/video-worker/health/")).call() {
                return (r.status().as_u16(), r.body_mut().read_to_string().unwrap());
            }
            assert!(Instant::now() < deadline, "the service never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn launch(&mut self) {
        std::fs::create_dir_all(&self.data).unwrap();
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.data.join("serve.log")).unwrap();
        let mut cmd = Command::new(super::bin());
        cmd.arg("serve")
            .current_dir(&self.data)
            .env("DATA_DIR", &self.data)
            .env("HTTPD_PORT", self.port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("LOG_LEVEL", "DEBUG")
            .env("RETRY_MAX_DELAY_SECONDS", "2")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = agent().get(self.url("/video-worker/health/")).call()
                && r.status().as_u16() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the service exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the service did not become healthy: {}", self.log());
    }

    /// Waits until the in-process service answers its health probe.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = agent().get(self.url("/video-worker/health/")).call()
                && r.status().as_u16() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the in-process service did not become healthy");
    }

    /// Stops an in-process service gracefully and waits for it.
    pub fn stop(&mut self) {
        if let Some(p) = self.in_process.take() {
            let _ = p.stop.send(());
            let _ = p.thread.join();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    fn auth(
        &self,
        req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    /// GET, returning (status, body text).
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = self.auth(agent().get(self.url(path))).call().unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// POST a body with a content type; returns (status, JSON).
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let mut req = agent().post(self.url(path)).header("Content-Type", content_type);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.send(body).unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// POST over a raw connection that keeps reading when the server answers
    /// before the body is sent (a refusal mid-upload): (status, JSON).
    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let json = text.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok());
        (status, json.unwrap_or(serde_json::Value::Null))
    }

    /// Uploads a file as a raw body; returns the task id.
    pub fn upload_raw(&self, file: &Path, session: &str) -> String {
        let body = std::fs::read(file).unwrap();
        let (status, json) =
            self.post(&format!("/api/v1/recordings?session_id={session}"), "application/octet-stream", &body);
        assert_eq!(status, 202, "upload: {json}");
        json["id"].as_str().unwrap().to_string()
    }

    /// Waits until the task is done or failed; returns its JSON.
    pub fn wait_finished(&self, id: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let task = self.get_json(&format!("/api/v1/tasks/{id}"));
            if matches!(task["state"].as_str(), Some("done" | "failed")) {
                return task;
            }
            assert!(Instant::now() < deadline, "task {id} did not finish: {task}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `check` holds for the task.
    pub fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let task = self.get_json(&format!("/api/v1/tasks/{id}"));
            if check(&task) {
                return task;
            }
            assert!(Instant::now() < deadline, "task {id} never reached the awaited state: {task}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The binary's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.as_ref().expect("the binary, not an in-process service").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait; returns how long it took to exit.
    pub fn terminate(&mut self) -> Duration {
        let child = self.child.as_mut().unwrap();
        let started = Instant::now();
        unsafe_kill(child.id(), libc::SIGTERM);
        let _ = child.wait();
        self.child = None;
        started.elapsed()
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn restart_with(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self.restart();
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        self.stop();
    }
}

/// A multipart/form-data body as a browser or Go's writer would send it.
pub fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "vwtestboundary0123456789";
    let mut body = Vec::new();
    for (name, file_name, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

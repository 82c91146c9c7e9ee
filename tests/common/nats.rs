//! A real nats-server (JetStream, file storage) on a loopback port, as a
//! separate process that tests can `kill -9` and restart on the same port
//! and store. Installed by scripts/nats-server.sh (`VW_NATS_SERVER`, or the
//! default tools directory). Missing: the test passes without it, unless
//! VW_REQUIRE_NATS=1 (CI) makes that a failure.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
    binary: PathBuf,
}

fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VW_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let tools =
        std::env::var_os("VW_TOOLS_DIR").map_or(home.join(".cache/video-worker/tools"), PathBuf::from);
    Some(tools.join("nats-venv/bin/nats-server")).filter(|p| p.is_file())
}

impl NatsServer {
    /// A started server keeping its streams under `dir`; `None` when
    /// nats-server is not installed (and not required).
    pub fn start(dir: &Path) -> Option<NatsServer> {
        let Some(binary) = binary().filter(|p| p.is_file()) else {
            let required = std::env::var("VW_REQUIRE_NATS").is_ok_and(|v| v == "1");
            assert!(!required, "VW_REQUIRE_NATS=1 but nats-server is missing: run scripts/nats-server.sh");
            eprintln!("nats-server is not installed (scripts/nats-server.sh): skipping");
            return None;
        };
        let mut s =
            NatsServer { child: None, port: super::server::free_port(), store: dir.join("nats"), binary };
        s.launch();
        Some(s)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        std::fs::create_dir_all(&self.store).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.join("nats-server.log"))
            .unwrap();
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`: no clean shutdown, as a crash or power loss would be.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

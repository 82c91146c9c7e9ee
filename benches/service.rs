//! Service benchmark: ingest throughput and memory for a 2 GiB upload on
//! loopback, then a load run: every sample three times, uploaded at once,
//! with the default worker count, while the health endpoint is probed every
//! 100 ms (uploads/s, tasks/min, health p50/p99, peak RSS). A report, not a
//! test:
//!
//!     cargo bench --bench service
//!
//! `VW_SAMPLES` points at the sample recordings (default ../shared/samples);
//! `VW_BENCH_UPLOAD_MIB` changes the upload size (default 2048).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let bin = build_binary();
    let samples = std::env::var_os("VW_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples"));
    let data = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let mut server = start(&bin, data.path(), port);
    let upload_mib: u64 =
        std::env::var("VW_BENCH_UPLOAD_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let (mb_s, rss_before, rss_after) = ingest(port, server.id(), upload_mib);
    println!(
        "ingest: {upload_mib} MiB on loopback at {mb_s:.0} MB/s; service RSS {rss_before} MB before, peak {rss_after} MB after"
    );
    let load = throughput(port, server.id(), &samples);
    let (tasks, minutes) = (load.tasks, load.minutes);
    println!(
        "end to end: {tasks} tasks (samples, uploaded at once) in {minutes:.2} min = {:.1} tasks/min, {:.0}x real time ({:.0} s of sessions)",
        tasks as f64 / minutes,
        load.session_s / (minutes * 60.0),
        load.session_s
    );
    println!(
        "under load: {:.1} uploads/s accepted; health p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; service peak RSS {} MB",
        load.uploads_per_s, load.health_p50_ms, load.health_p99_ms, load.health_max_ms, load.rss_peak_mb
    );
    let _ = server.kill();
    let _ = server.wait();
    let json = format!(
        "{{\"upload_mib\":{upload_mib},\"ingest_mb_s\":{mb_s:.1},\"rss_before_mb\":{rss_before},\"rss_peak_mb\":{rss_after},\"tasks\":{tasks},\"minutes\":{minutes:.3},\"tasks_per_min\":{:.2},\"uploads_per_s\":{:.2},\"health_p50_ms\":{:.2},\"health_p99_ms\":{:.2},\"rss_peak_after_load_mb\":{}}}\n",
        tasks as f64 / minutes,
        load.uploads_per_s,
        load.health_p50_ms,
        load.health_p99_ms,
        load.rss_peak_mb
    );
    let out = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("service.json"), json);
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn build_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "video-worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the binary failed");
    target_dir().join("release/video-worker")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(bin: &Path, data: &Path, port: u16) -> Child {
    let mut child = Command::new(bin)
        .arg("serve")
        .env("DATA_DIR", data)
        .env("HTTPD_PORT", port.to_string())
        .env("LOG_LEVEL", "WARN")
        .env("MAX_UPLOAD_SIZE", "100G")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the service starts");
    for _ in 0..200 {
        if get(port, "/video-worker/health/").starts_with("HTTP/1.1 200") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the service did not become healthy");
}

/// One request over a fresh connection; returns the raw answer.
fn get(port: u16, path: &str) -> String {
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

fn rss_mb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0, |kb: u64| kb / 1024)
}

/// Streams `mib` MiB of recording-shaped bytes as one raw upload.
fn ingest(port: u16, pid: u32, mib: u64) -> (f64, u64, u64) {
    let before = rss_mb(pid, "VmRSS:");
    let total = mib * 1024 * 1024;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "POST /api/v1/recordings?session_id=bench-ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk: Vec<u8> = b"3.nop;".iter().copied().cycle().take(1 << 20).collect();
    let started = Instant::now();
    for _ in 0..mib {
        c.write_all(&chunk).unwrap();
    }
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    let secs = started.elapsed().as_secs_f64();
    assert!(answer.starts_with("HTTP/1.1 202"), "upload refused: {answer}");
    let peak = rss_mb(pid, "VmHWM:");
    // The upload is not a real session; let its (failing) task end before
    // the throughput run, so it does not compete for the CPU.
    let id = answer.split("\"id\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("").to_string();
    while !get(port, &format!("/api/v1/tasks/{id}")).contains("\"state\":\"failed\"") {
        std::thread::sleep(Duration::from_millis(500));
    }
    (total as f64 / 1e6 / secs, before, peak)
}

/// What the load run measured.
struct Load {
    tasks: usize,
    minutes: f64,
    session_s: f64,
    uploads_per_s: f64,
    health_p50_ms: f64,
    health_p99_ms: f64,
    health_max_ms: f64,
    rss_peak_mb: u64,
}

/// Uploads every sample three times, all at once from parallel clients,
/// while a prober asks for the health every 100 ms; waits for all tasks.
fn throughput(port: u16, pid: u32, samples: &Path) -> Load {
    let files = ["rdp-1280x800-2min-pngjpeg.guac", "vnc-1280x800-3min.guac"];
    let spans = [98.9, 180.0];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || probe_health(port, &stop))
    };
    let started = Instant::now();
    let mut uploads = Vec::new();
    let mut session_s = 0.0;
    for round in 0..3 {
        for (file, span) in files.iter().zip(spans) {
            let body = std::fs::read(samples.join(file)).expect("sample present (VW_SAMPLES)");
            let sid = format!("bench-{round}-{}", &file[..3]);
            uploads.push(std::thread::spawn(move || upload(port, &sid, &body)));
            session_s += span;
        }
    }
    let ids: Vec<String> = uploads.into_iter().map(|u| u.join().expect("upload thread")).collect();
    let uploads_per_s = ids.len() as f64 / started.elapsed().as_secs_f64();
    for id in &ids {
        loop {
            let task = get(port, &format!("/api/v1/tasks/{id}"));
            if task.contains("\"state\":\"done\"") {
                break;
            }
            assert!(!task.contains("\"state\":\"failed\""), "task failed: {task}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = prober.join().expect("prober");
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Load {
        tasks: ids.len(),
        minutes,
        session_s,
        uploads_per_s,
        health_p50_ms: pick(0.5),
        health_p99_ms: pick(0.99),
        health_max_ms: pick(1.0),
        rss_peak_mb: rss_mb(pid, "VmHWM:"),
    }
}

fn upload(port: u16, sid: &str, body: &[u8]) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "POST /api/v1/recordings?session_id={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer.split("\"id\":\"").nth(1).and_then(|s| s.split('"').next()).expect("a task id").to_string()
}

/// Health latencies in ms, one probe every 100 ms until `stop`.
fn probe_health(port: u16, stop: &std::sync::atomic::AtomicBool) -> Vec<f64> {
    let mut out = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let t = Instant::now();
        let answer = get(port, "/video-worker/health/");
        if answer.starts_with("HTTP/1.1 200") {
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out
}

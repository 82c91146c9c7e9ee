//! Fault injection: the real binary is killed with `kill -9` at many points
//! (while converting, storing in core, telling core, and with a part half
//! received) and
//! restarted each time; in the end every recording the worker accepted is
//! stored exactly once under each of its names, core knows of it, and
//! `DATA_DIR` holds nothing orphaned.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::fake_core::{FakeCore, TOKEN, wait_accepting};
use common::lion::{Lion, gzip};
use common::server::Server;
use common::{Rec, sample};

fn recording(seed: u8, frames: i32) -> Vec<u8> {
    let mut rec = Rec::new().size(0, 640, 400).fill(0, 0, 0, 640, 400, [seed, 20, 40, 255]).sync(1000);
    for i in 0..frames {
        rec = rec
            .fill(0, i * 11 % 600, i * 7 % 360, 40, 30, [255, seed, 90, 255])
            .sync(1100 + i64::from(i) * 40);
    }
    rec.bytes()
}

#[test]
fn kill_9_anywhere_loses_nothing_and_duplicates_nothing() {
    let core = FakeCore::start(true);
    core.with(|c| {
        c.storage = Some(json!({"TYPE": "server"}));
        c.delay_ms = 150; // a slow core widens the storing and reporting windows
    });
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CORE_HOST", core.url.as_str()),
        ("BOOTSTRAP_TOKEN", TOKEN),
        ("NAME", "vw-faults"),
        ("VIDEO_WORKER_COUNT", "2"),
    ];
    let mut server = Server::start(dir.path(), &env);
    let lion_key = core.register_component("lion-faults");
    let vnc = gzip(&std::fs::read(sample("vnc-1280x800-3min.guac")).unwrap());
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    // Kill points, in ms after the uploads start: during the upload of the
    // parts, the conversions, the uploads to core and the session PATCHes.
    for (round, kill_after) in [40u64, 250, 600, 1200, 2000, 2900, 3900, 5200].into_iter().enumerate() {
        wait_accepting(&server);
        let port = server.port;
        let key = lion_key.clone();
        let vnc = vnc.clone();
        let uploader = std::thread::spawn(move || {
            let mut lion = Lion::new(key, port);
            let mut ok = Vec::new();
            for s in 0..2 {
                let sid = format!("sess-r{round}-{s}");
                let big = if s == 0 { vnc.clone() } else { gzip(&recording(round as u8, 60)) };
                let files = vec![
                    (format!("{sid}.0.part.gz"), big),
                    (format!("{sid}.1.part.gz"), gzip(&recording(s, 30))),
                ];
                if lion.upload_session(&sid, &files).is_ok() {
                    ok.push((sid, files.len()));
                }
            }
            ok
        });
        std::thread::sleep(Duration::from_millis(kill_after));
        server.kill9();
        accepted.extend(uploader.join().unwrap());
        server.restart();
    }
    wait_accepting(&server);
    kill_while_a_part_streams_in(&mut server, &lion_key, dir.path());
    eprintln!("{} sessions accepted across 8 kill -9 restarts: {:?}", accepted.len(), accepted.keys());
    assert!(accepted.len() >= 4, "most rounds accept something: {accepted:?}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let pending: Vec<&String> = accepted
            .keys()
            .filter(|sid| {
                !core.with(|c| c.session_patches.iter().any(|(s, b)| s == *sid && b["has_replay"] == true))
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never stored: {pending:?}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    check_stored_once(&core, &accepted);
    wait_all_finished(&server);
    check_no_orphans(dir.path(), &server);
}

/// A kill in the middle of a part: the half-received task is gone after the
/// restart (the gateway got an error and stores the recording itself).
fn kill_while_a_part_streams_in(server: &mut Server, key: &(String, String), data: &Path) {
    use std::io::Write;
    let mut lion = Lion::new(key.clone(), server.port);
    let files = vec![("cut.0.part.gz".to_string(), gzip(&recording(7, 200)))];
    let id = lion.create_task("sess-cut", 0, 0, &files, true).json()["id"].as_str().unwrap().to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = format!(
        "POST /api/v2/replay/sessions/{id}/task/upload/0 HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.0.part.gz\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![7u8; 300_000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    server.restart();
    wait_accepting(server);
    assert!(!data.join("tasks").join(&id).exists(), "a half-received task survived the restart");
}

/// Every accepted session has exactly its part MP4s and its index in core,
/// and the index names what was stored last.
fn check_stored_once(core: &FakeCore, accepted: &BTreeMap<String, usize>) {
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        for (sid, parts) in accepted {
            let names: BTreeSet<&str> =
                c.replays.iter().filter(|r| &r.session == sid).map(|r| r.name.as_str()).collect();
            let mut want: BTreeSet<String> = (0..*parts).map(|n| format!("{sid}.{n}.part.mp4")).collect();
            want.insert(format!("{sid}.replay.json"));
            assert_eq!(names, want.iter().map(String::as_str).collect(), "{sid}");
            let last =
                |name: &str| c.replays.iter().rev().find(|r| &r.session == sid && r.name == name).unwrap();
            let index: Value = serde_json::from_slice(&last(&format!("{sid}.replay.json")).data).unwrap();
            for f in index["files"].as_array().unwrap() {
                assert_eq!(f["size"], last(f["name"].as_str().unwrap()).data.len() as u64, "{sid}: {f}");
            }
        }
    });
}

fn wait_all_finished(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let tasks =
            server.get_json("/api/v1/tasks?limit=500")["items"].as_array().cloned().unwrap_or_default();
        if tasks.iter().all(|t| matches!(t["state"].as_str(), Some("done" | "failed"))) {
            assert!(tasks.iter().all(|t| t["state"] == "done"), "{tasks:?}");
            return;
        }
        assert!(Instant::now() < deadline, "tasks still running: {tasks:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every task directory belongs to a known, finished task and holds no
/// received recording or temporary file any more.
fn check_no_orphans(data: &Path, server: &Server) {
    let known: BTreeSet<String> = server.get_json("/api/v1/tasks?limit=500")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    for entry in std::fs::read_dir(data.join("tasks")).unwrap() {
        let entry = entry.unwrap();
        let id = entry.file_name().to_string_lossy().to_string();
        assert!(known.contains(&id), "orphaned task directory {id}");
        assert!(!entry.path().join("input").exists(), "{id} still holds its recording");
        for f in std::fs::read_dir(entry.path().join("output")).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().to_string();
            assert!(!name.ends_with(".tmp") && !name.ends_with(".part"), "{id}: leftover {name}");
        }
    }
}

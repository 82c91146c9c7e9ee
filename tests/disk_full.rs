//! `DATA_DIR` on a small filesystem (a tmpfs mounted by the test; it needs
//! root, as in CI): an upload beyond the space is refused with 507 and
//! leaves nothing, a conversion that runs out of space retries, and both
//! work again once space returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::server::Server;
use common::{probe, sample};

/// A tmpfs of `mb` MiB, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mb: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir_all(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(std::env::var("VW_REQUIRE_ROOT").is_err(), "cannot mount a tmpfs (root is required)");
            eprintln!("skipped: mounting a small filesystem needs root");
            return None;
        }
        Some(SmallDisk { path, _dir: dir })
    }

    fn free(&self) -> u64 {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(&self.path).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn fill(path: &Path, bytes: u64) {
    let _ = std::fs::write(path, vec![0u8; bytes as usize]);
}

#[test]
fn a_full_disk_refuses_cleanly_and_recovers() {
    let Some(disk) = SmallDisk::mount(24) else { return };
    // A stall limit well inside the test's waits, should ffmpeg hang on the full disk.
    let server = Server::start(&disk.path, &[("VIDEO_WORKER_COUNT", "1"), ("FFMPEG_STALL_SECONDS", "20")]);
    // Far more than the space: 507, and the partial file is gone.
    let before = disk.free();
    let (status, answer) =
        server.post_raw("/api/v1/recordings", "application/octet-stream", &vec![b'x'; 40 << 20]);
    assert_eq!(status, 507, "{answer}");
    assert_eq!(answer["code"], "insufficient_storage");
    assert!(disk.free() + (256 << 10) >= before, "the refused upload left files behind");
    assert_eq!(server.get_json("/api/v1/tasks")["items"].as_array().unwrap().len(), 0);
    // Room for the recording but not for its video (about 0.7 MB): the task
    // waits, then finishes.
    let filler = disk.path.join("filler");
    let recording = sample("vnc-1280x800-3min.guac");
    let size = std::fs::metadata(&recording).unwrap().len();
    fill(&filler, disk.free().saturating_sub(size + 200_000));
    let id = server.upload_raw(&recording, "disk-full");
    let task = server.wait_for(&id, Duration::from_secs(120), |t| {
        t["attempts"].as_u64() >= Some(1) && t["last_error"].is_string()
    });
    assert!(!matches!(task["state"].as_str(), Some("done" | "failed")), "{task}");
    std::fs::remove_file(&filler).unwrap();
    let task = server.wait_finished(&id, Duration::from_secs(180));
    assert_eq!(task["state"], "done", "{task}");
    let key = task["outputs"][0]["key"].as_str().unwrap();
    let (codec, ..) = probe(&disk.path.join("replays").join(key));
    assert_eq!(codec, "h264");
    assert_eq!(server.get_json("/video-worker/health/")["status"], "ok");
}

//! Replays stored in real object stores, as core assigns them: an S3 server
//! (moto) and Azure Blob (Azurite), each started on loopback by the test
//! (`scripts/storage-servers.sh` installs them; CI requires them). A fault
//! proxy in front of S3 cuts the network in the middle of an upload.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use common::fake_core::{FakeCore, ready_worker};
use common::lion::{Lion, gzip};
use common::storage_servers::{AzureServer, FaultProxy, S3Server};
use common::{probe, sample};

/// The keys stored for `sid` and the MP4 checked with ffprobe.
fn check_stored(objects: &[(String, u64)], get: impl Fn(&str) -> Vec<u8>, sid: &str, patch: &Value) {
    let mp4 = format!("2025-11-13/{sid}/{sid}.0.part.mp4");
    let index = format!("2025-11-13/{sid}/{sid}.replay.json");
    let mut keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, [mp4.as_str(), index.as_str()], "each file once, under core's keys");
    let video = get(&mp4);
    let meta: Value = serde_json::from_slice(&get(&index)).unwrap();
    assert_eq!(meta["files"][0]["size"], video.len() as u64);
    assert_eq!(patch["replay_size"], video.len() as u64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    std::fs::write(&path, &video).unwrap();
    let (codec, _, _, w, h, _) = probe(&path);
    assert_eq!((codec.as_str(), w, h), ("h264", 1280, 800));
}

#[test]
fn s3_replays_survive_a_network_cut_in_the_middle_of_an_upload() {
    let Some(s3) = S3Server::start("replays") else { return };
    let proxy = FaultProxy::start(s3.addr());
    let core = FakeCore::start(true);
    core.with(|c| {
        c.storage = Some(json!({"TYPE": "s3", "BUCKET": "replays", "ACCESS_KEY": s3.access_key,
            "SECRET_KEY": s3.secret_key, "ENDPOINT": format!("http://{}", proxy.addr)}))
    });
    let dir = tempfile::tempdir().unwrap();
    let server = ready_worker(dir.path(), &core, "vw-s3", &[]);
    let mut lion = Lion::new(core.register_component("lion-s3"), server.port);
    let sid = "sess-s3";
    // The MP4 is about 2.4 MB: the cut comes in the middle of its upload.
    proxy.cut_after(600_000);
    let part = (format!("{sid}.0.part.gz"), gzip(&std::fs::read(sample("vnc-1280x800-3min.guac")).unwrap()));
    lion.upload_session(sid, &[part]).unwrap();
    core.wait("the failed upload reported", |c| {
        c.lifecycle.iter().any(|(s, b)| s == sid && b["event"] == "replay_upload_failure")
    });
    assert!(s3.objects().is_empty(), "nothing half-stored");
    proxy.restore();
    let patch = core.wait_has_replay(&server, sid);
    check_stored(&s3.objects(), |k| s3.get(k), sid, &patch);
    let failures = core.with(|c| {
        c.lifecycle.iter().filter(|(s, b)| s == sid && b["event"] == "replay_upload_failure").count()
    });
    assert_eq!(failures, 1, "a long outage is reported once, not at every retry");
    let log = server.log();
    let leak = log.lines().find(|l| l.contains(&s3.secret_key));
    assert!(leak.is_none(), "storage secrets stay out of the log: {leak:?}");
}

#[test]
fn azure_replays_land_in_the_container() {
    let Some(azure) = AzureServer::start("replays") else { return };
    let core = FakeCore::start(true);
    core.with(|c| {
        c.storage =
            Some(json!({"TYPE": "azure", "CONTAINER_NAME": "replays", "ACCOUNT_NAME": azure.account_name,
            "ACCOUNT_KEY": azure.account_key, "ENDPOINT_SUFFIX": azure.endpoint}))
    });
    let dir = tempfile::tempdir().unwrap();
    // Sealing keeps no clear copy here: the API reads the MP4 back from Azure.
    let sealing = [("VIDEO_WORKER_SECRET_KEY", "azure-test-key-0123456789abcdefg")];
    let server = ready_worker(dir.path(), &core, "vw-azure", &sealing);
    let mut lion = Lion::new(core.register_component("lion-azure"), server.port);
    let sid = "sess-azure";
    let part =
        (format!("{sid}.0.part.gz"), gzip(&std::fs::read(sample("rdp-1280x800-2min-pngjpeg.guac")).unwrap()));
    let task = lion.upload_session(sid, &[part]).unwrap();
    let patch = core.wait_has_replay(&server, sid);
    check_stored(&azure.objects(), |k| azure.get(k), sid, &patch);
    let stored = azure.get(&azure.objects().iter().find(|(k, _)| k.ends_with(".part.mp4")).unwrap().0);
    server.wait_finished(&task, Duration::from_secs(60));
    let url = server.url(&format!("/api/v1/tasks/{task}/output"));
    let mut whole = common::server::agent().get(&url).call().unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.body_mut().read_to_vec().unwrap(), stored, "the MP4 as stored");
    let mut part = common::server::agent().get(&url).header("Range", "bytes=100-199").call().unwrap();
    assert_eq!(part.status().as_u16(), 206);
    let range = part.headers().get("content-range").unwrap().to_str().unwrap().to_string();
    assert_eq!(range, format!("bytes 100-199/{}", stored.len()));
    assert_eq!(part.body_mut().read_to_vec().unwrap(), &stored[100..200], "a player can seek");
}

/// Big files go up as multipart uploads; one cut mid-way and a retry leave
/// exactly one complete object.
#[tokio::test(flavor = "multi_thread")]
async fn big_files_stream_as_multipart_uploads_and_a_retry_leaves_one_object() {
    use video_worker::jumpserver::replay_storage::ReplayStorage;
    use video_worker::pipeline::ports::Storage;
    use video_worker::storage::object::{ObjectStorage, http_client};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(s3) = S3Server::start("big") else { return };
    let s3 = Arc::new(s3);
    let proxy = FaultProxy::start(s3.addr());
    let config = json!({"TYPE": "s3", "BUCKET": "big", "ACCESS_KEY": s3.access_key, "SECRET_KEY": s3.secret_key,
                        "ENDPOINT": format!("http://{}", proxy.addr)});
    let ReplayStorage::Object(store) = ReplayStorage::parse(&config) else { panic!("an object store") };
    let storage = ObjectStorage::new(&store, &http_client()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.mp4");
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    proxy.cut_after(12_000_000);
    assert!(storage.put_file("d/s/big.mp4", &file).await.is_err(), "the cut fails the upload");
    proxy.restore();
    let stored = storage.put_file("d/s/big.mp4", &file).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    let check = s3.clone();
    let (objects, body) =
        tokio::task::spawn_blocking(move || (check.objects(), check.get("d/s/big.mp4"))).await.unwrap();
    assert_eq!(objects, vec![("d/s/big.mp4".to_string(), data.len() as u64)]);
    assert!(body == data, "the object is the file, byte for byte");
}

//! The worker against a fake JumpServer core that is as strict as the real
//! one about what it checks: the bootstrap token, the 300-second
//! registration window, unique names, and an HTTP signature (made with the
//! secret it issued) plus `X-JMS-ORG` on every later call.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use common::fake_core::{FakeCore, TOKEN};
use common::server::Server;

fn worker(data: &std::path::Path, core: &FakeCore, name: &str) -> Server {
    Server::start(data, &[("CORE_HOST", &core.url), ("BOOTSTRAP_TOKEN", TOKEN), ("NAME", name)])
}

#[test]
fn registers_keeps_its_key_heartbeats_and_reads_the_replay_storage() {
    let core = FakeCore::start(true);
    let dir = tempfile::tempdir().unwrap();
    let mut server = worker(dir.path(), &core, "vw-one");
    core.wait("a WebSocket heartbeat", |c| !c.ws_heartbeats.is_empty() && c.config_reads > 0);
    core.wait("the pushed task acknowledged", |c| c.finished_tasks.iter().any(|t| t == "task-7"));
    let key_file = dir.path().join("keys/.access_key");
    let (id, secret) = core.with(|c| {
        assert_eq!(c.registrations.len(), 1);
        assert_eq!(c.registrations[0]["type"], "video_worker");
        assert_eq!(c.registrations[0]["name"], "vw-one");
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        let message = &c.ws_heartbeats[0];
        assert_eq!(message["type"], "status", "{message}");
        let beat = &message["payload"];
        for k in ["cpu_load", "memory_used", "disk_used"] {
            assert!(beat[k].is_number(), "{beat}");
        }
        assert_eq!(beat["sessions"], json!([]));
        assert_eq!(beat["session_online"], 0);
        c.keys.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap()
    });
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), format!("{id}:{secret}"));
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let h = server.get_json("/video-worker/health/");
        if h["core"]["replay_storage"].is_string() {
            break h;
        }
        assert!(Instant::now() < deadline, "the replay storage never showed: {h}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health["core"]["connected"], true, "{health}");
    assert!(health["core"]["replay_storage"].as_str().unwrap().contains("s3 bucket replays"), "{health}");
    // A restart reuses the stored key.
    server.restart();
    core.wait("the stored key checked", |c| c.profile_reads >= 2);
    assert_eq!(core.with(|c| c.registrations.len()), 1);
    let log = server.log();
    for secret_text in [TOKEN, secret.as_str(), "s3-secret-value"] {
        assert!(!log.contains(secret_text), "a secret reached the log: {secret_text}");
    }
}

#[test]
fn a_revoked_key_leads_to_a_new_registration_and_the_old_key_is_kept_aside() {
    let core = FakeCore::start(true);
    let dir = tempfile::tempdir().unwrap();
    let mut server = worker(dir.path(), &core, "vw-two");
    core.wait("a registration", |c| c.registrations.len() == 1 && c.profile_reads >= 1);
    server.kill9();
    let beats_before = core.with(|c| {
        c.keys.clear();
        c.names.clear();
        c.ws_heartbeats.len()
    });
    server.restart();
    // A heartbeat of the new process comes after its key is saved.
    core.wait("a second registration", |c| {
        c.registrations.len() == 2 && c.ws_heartbeats.len() > beats_before
    });
    let aside = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".access_key_"))
        .count();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(aside, 1, "{names:?}\n{}", server.log());
}

#[test]
fn a_closed_registration_window_is_explained_and_does_not_block_health() {
    let core = FakeCore::start(false);
    let dir = tempfile::tempdir().unwrap();
    let server = worker(dir.path(), &core, "vw-three");
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let h = server.get_json("/video-worker/health/");
        if h["core"]["last_error"].is_string() {
            break h;
        }
        assert!(Instant::now() < deadline, "no core error reported: {h}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health["status"], "degraded", "core is out of reach: 200, but degraded");
    assert_eq!(health["core"]["connected"], false);
    assert!(health["core"]["last_error"].as_str().unwrap().contains("300 s"), "{health}");
    assert!(!dir.path().join("keys/.access_key").exists());
    // Once core accepts registrations, the worker gets in by itself.
    core.with(|c| c.window_open = true);
    core.wait("a late registration", |c| c.registrations.len() == 1);
}

#[test]
fn a_taken_name_is_explained() {
    let core = FakeCore::start(true);
    core.with(|c| {
        c.names.insert("vw-dup".into());
    });
    let dir = tempfile::tempdir().unwrap();
    let server = worker(dir.path(), &core, "vw-dup");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = server.get_json("/video-worker/health/");
        if let Some(e) = h["core"]["last_error"].as_str() {
            assert!(e.contains("NAME") && e.contains("vw-dup") && e.contains("taken"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "no error: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_the_websocket_the_rest_heartbeat_keeps_the_worker_alive() {
    let core = FakeCore::start(true);
    core.with(|c| c.ws_disabled = true);
    let dir = tempfile::tempdir().unwrap();
    let _server = worker(dir.path(), &core, "vw-rest");
    core.wait("a REST heartbeat", |c| !c.heartbeats.is_empty());
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        assert!(c.heartbeats[0]["cpu_load"].is_number());
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_reach_core_with_a_content_length_then_the_session_is_marked() {
    use video_worker::jumpserver::core_client::CoreClient;
    use video_worker::storage::Storage;
    use video_worker::storage::core::CoreStorage;
    let core = FakeCore::start(true);
    let client = CoreClient::new(&core.url, false).unwrap();
    let key = client.register("vw-store", TOKEN).await.unwrap();
    client.set_key(key);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.mp4");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let client = Arc::new(client);
    let storage = CoreStorage::new(client.clone());
    client.lifecycle("sess-1", "replay_convert_success", "").await.unwrap();
    let stored = storage.put_file("2026-11-22/sess-1/sess-1.0.part.mp4", &file).await.unwrap();
    client.mark_replay("sess-1", stored.size).await.unwrap();
    client.mark_replay_error("sess-3", "replay_convert_failed").await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    storage.put_file("2026-11-22/sess-2.replay.mp4", &file).await.unwrap();
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        assert_eq!(c.replays.len(), 2);
        let r = &c.replays[0];
        assert_eq!(
            (r.session.as_str(), r.version.as_str(), r.name.as_str()),
            ("sess-1", "5", "sess-1.0.part.mp4")
        );
        assert!(r.data == data, "the bytes arrive unchanged");
        assert!(r.content_length.is_some() && !r.chunked, "core needs a Content-Length, not chunks");
        let r = &c.replays[1];
        assert_eq!(
            (r.session.as_str(), r.version.as_str(), r.name.as_str()),
            ("sess-2", "4", "sess-2.replay.mp4")
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_credentials_are_checked_by_core_and_cached_by_hash() {
    use video_worker::jumpserver::core_client::CoreClient;
    use video_worker::jumpserver::gateway_auth::{Credentials, Denied, GatewayAuth};
    use video_worker::jumpserver::signer::{authorization, http_date};
    let core = FakeCore::start(true);
    let client = Arc::new(CoreClient::new(&core.url, false).unwrap());
    let lion = client.register("lion-gateway", TOKEN).await.unwrap();
    let person = client.register("alice", TOKEN).await.unwrap();
    core.with(|c| c.humans.insert(person.id.clone()));
    let auth = GatewayAuth::new(client.clone());
    let date = http_date();
    // ProfileAuth, as Lion does it: the signature covers core's profile URL.
    let good = authorization(&lion, "GET", "/api/v1/users/profile/", &date);
    let creds = |a: &'static str| Credentials { authorization: a, date: "", org: "ROOT" };
    let ok = Credentials { authorization: &good, date: &date, org: "ROOT" };
    assert!(auth.check(&ok).await.is_ok());
    let reads = core.with(|c| c.profile_reads);
    assert!(auth.check(&ok).await.is_ok());
    assert_eq!(core.with(|c| c.profile_reads), reads, "a repeat is answered from the cache");
    // A forged signature, one made for another path, and a person's key are refused.
    let forged = good.replace("signature=\"", "signature=\"AAAA");
    let other_path = authorization(&lion, "POST", "/api/v2/replay/sessions/x/task/", &date);
    let human = authorization(&person, "GET", "/api/v1/users/profile/", &date);
    for bad in [forged, other_path, human] {
        let c = Credentials { authorization: &bad, date: &date, org: "ROOT" };
        assert!(matches!(auth.check(&c).await, Err(Denied::Refused(_))), "{bad}");
    }
    assert_eq!(auth.check(&creds("")).await, Err(Denied::Missing));
    core.with(|c| assert_eq!(c.bad_calls.len(), 2, "core saw the two bad signatures: {:?}", c.bad_calls));
}

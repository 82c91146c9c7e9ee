//! The cluster queue against a real nats-server (JetStream, file storage),
//! every node a real `video-worker serve` process: receivers and transcoders
//! share the work, any node answers for any task, and nothing is lost or
//! stored twice when a transcoder or the NATS server is killed.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Rec;
use common::nats::NatsServer;
use common::server::Server;

const LONG: Duration = Duration::from_secs(180);

/// A short recording that converts in about a second.
fn small_recording(dir: &Path, name: &str, color: [u8; 4]) -> PathBuf {
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [0, 0, 0, 255]).sync(1000);
    for i in 0..30 {
        rec = rec.fill(0, i * 8, i * 5, 40, 30, color).sync(1050 + i64::from(i) * 200);
    }
    rec.write(dir, name)
}

/// Every MP4 under the shared storage directory.
fn stored_mp4s(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One cluster: the NATS server, a shared storage directory, and nodes.
struct Cluster {
    tmp: tempfile::TempDir,
    nats: NatsServer,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let tmp = tempfile::tempdir().unwrap();
        let nats = NatsServer::start(tmp.path())?;
        Some(Cluster { tmp, nats })
    }

    fn storage(&self) -> PathBuf {
        self.tmp.path().join("replays")
    }

    fn node(&self, name: &str, role: &str, extra: &[(&str, &str)]) -> Server {
        let url = self.nats.url();
        let storage = self.storage().display().to_string();
        let mut env = vec![
            ("NAME", name),
            ("VIDEO_WORKER_ROLE", role),
            ("NATS_URL", url.as_str()),
            ("LOCAL_STORAGE_DIR", storage.as_str()),
            ("VIDEO_WORKER_COUNT", "1"),
        ];
        env.extend_from_slice(extra);
        Server::start(&self.tmp.path().join(name), &env)
    }
}

fn task_ids(server: &Server) -> Vec<(String, String)> {
    let page = server.get_json("/api/v1/tasks?limit=500");
    let mut ids: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect();
    ids.sort();
    ids
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_receiver_and_two_transcoders_share_the_work_and_every_node_shows_it() {
    let Some(cluster) = Cluster::start() else { return };
    let receiver = cluster.node("receiver", "receiver", &[]);
    let t1 = cluster.node("t1", "transcoder", &[]);
    let t2 = cluster.node("t2", "transcoder", &[]);
    let inputs = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let rec = small_recording(inputs.path(), &format!("r{i}.guac"), [40 * i as u8, 200, 90, 255]);
            receiver.upload_raw(&rec, &format!("shared-{i}"))
        })
        .collect();
    for id in &ids {
        let task = receiver.wait_finished(id, LONG);
        assert_eq!(task["state"], "done", "{task}");
    }
    // Stored once each, and both transcoders did work.
    let stored = stored_mp4s(&cluster.storage());
    assert_eq!(stored.len(), ids.len(), "{stored:?}");
    let workers: std::collections::BTreeSet<String> = ids
        .iter()
        .map(|id| receiver.get_json(&format!("/api/v1/tasks/{id}"))["worker"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(workers.into_iter().collect::<Vec<_>>(), ["t1", "t2"]);
    // Any node answers for any task, the same way.
    let view = task_ids(&receiver);
    assert_eq!(view.len(), ids.len());
    assert_eq!(task_ids(&t1), view);
    assert_eq!(task_ids(&t2), view);
    let (status, log) = receiver.get(&format!("/api/v1/tasks/{}/log", ids[0]));
    assert_eq!(status, 200);
    assert!(log.contains("started on worker t") && log.contains("staged in"), "{log}");
    let mut r =
        common::server::agent().get(t2.url(&format!("/api/v1/tasks/{}/output", ids[0]))).call().unwrap();
    let status = r.status().as_u16();
    let mp4 = r.body_mut().read_to_vec().unwrap();
    assert!(
        status == 200 && mp4.len() > 1000 && &mp4[4..8] == b"ftyp",
        "the MP4 streams from any node: {status}"
    );
    // A transcoder takes no recordings; its health tells the cluster's depth.
    let (status, body) = t1.post(
        "/api/v1/recordings?session_id=nope",
        "application/octet-stream",
        &std::fs::read(inputs.path().join("r0.guac")).unwrap(),
    );
    assert_eq!((status, body["code"].as_str()), (503, Some("not_a_receiver")), "{body}");
    let health = t1.get_json("/video-worker/health/");
    assert_eq!((health["status"].as_str(), health["cluster"]["queue"].as_str()), (Some("ok"), Some("nats")));
}

#[test]
fn a_transcoder_killed_mid_conversion_loses_its_job_to_the_other_and_it_is_stored_once() {
    let Some(cluster) = Cluster::start() else { return };
    let fast = [("NATS_ACK_WAIT_SECONDS", "3")];
    let receiver = cluster.node("receiver", "receiver", &fast);
    let mut t1 = cluster.node("t1", "transcoder", &fast);
    let id = receiver.upload_raw(&common::sample(common::RDP), "killed");
    receiver.wait_for(&id, LONG, |t| t["state"] == "converting" && t["worker"] == "t1");
    t1.kill9();
    let t2 = cluster.node("t2", "transcoder", &fast);
    let task = receiver.wait_finished(&id, LONG);
    assert_eq!((task["state"].as_str(), task["worker"].as_str()), (Some("done"), Some("t2")), "{task}");
    assert_eq!(task["attempts"], 2, "{task}");
    assert_eq!(stored_mp4s(&cluster.storage()).len(), 1);
    drop(t2);
}

#[test]
fn a_conversion_longer_than_the_ack_wait_is_processed_exactly_once() {
    let Some(cluster) = Cluster::start() else { return };
    // The RDP sample takes several times this to convert.
    let short = [("NATS_ACK_WAIT_SECONDS", "2")];
    let receiver = cluster.node("receiver", "receiver", &short);
    let t1 = cluster.node("t1", "transcoder", &short);
    let t2 = cluster.node("t2", "transcoder", &short);
    let id = receiver.upload_raw(&common::sample(common::RDP), "long");
    let task = receiver.wait_finished(&id, LONG);
    assert_eq!((task["state"].as_str(), task["attempts"].as_u64()), (Some("done"), Some(1)), "{task}");
    let started = |s: &Server| s.log().matches("task started").count();
    assert_eq!(started(&t1) + started(&t2), 1, "one conversion in all");
    assert_eq!(stored_mp4s(&cluster.storage()).len(), 1);
}

#[test]
fn nats_down_or_killed_loses_nothing_recordings_are_accepted_and_processed_when_it_returns() {
    let Some(mut cluster) = Cluster::start() else { return };
    let node = cluster.node("node", "all", &[("NATS_ACK_WAIT_SECONDS", "3")]);
    let inputs = tempfile::tempdir().unwrap();
    let first = node.upload_raw(&small_recording(inputs.path(), "a.guac", [200, 0, 0, 255]), "before");
    assert_eq!(node.wait_finished(&first, LONG)["state"], "done");
    // A crash of the server (no clean shutdown) while a long conversion runs.
    let long = node.upload_raw(&common::sample(common::VNC), "during");
    node.wait_for(&long, LONG, |t| t["state"] == "converting");
    cluster.nats.kill9();
    let (status, body) = node.post(
        "/api/v1/recordings?session_id=away",
        "application/octet-stream",
        &std::fs::read(small_recording(inputs.path(), "b.guac", [0, 200, 0, 255])).unwrap(),
    );
    assert_eq!(status, 202, "accepted while NATS is away: {body}");
    let away = body["id"].as_str().unwrap().to_string();
    wait_until("health to say degraded", Duration::from_secs(20), || {
        let h = node.get_json("/video-worker/health/");
        h["status"] == "degraded" && h["degraded"].to_string().contains("NATS")
    });
    assert_eq!(node.get_json(&format!("/api/v1/tasks/{away}"))["state"], "queued", "visible while waiting");
    std::thread::sleep(Duration::from_secs(2));
    cluster.nats.restart();
    wait_until("health to recover", Duration::from_secs(30), || {
        node.get_json("/video-worker/health/")["status"] == "ok"
    });
    for id in [&long, &away] {
        let task = node.wait_finished(id, LONG);
        assert_eq!(task["state"], "done", "{task}");
    }
    let stored = stored_mp4s(&cluster.storage());
    assert_eq!(stored.len(), 3, "each stored once: {stored:?}");
    assert_eq!(task_ids(&node).len(), 3);
}

#[test]
fn a_jumpserver_session_whose_announcement_and_parts_reach_different_nodes_completes() {
    use common::fake_core::{FakeCore, ready_worker};
    use common::lion::{Lion, gzip};
    let Some(cluster) = Cluster::start() else { return };
    let core = FakeCore::start(true);
    core.with(|c| c.storage = Some(serde_json::json!({"default": {"TYPE": "server"}})));
    let url = cluster.nats.url();
    let env = [("NATS_URL", url.as_str()), ("VIDEO_WORKER_COUNT", "1")];
    let a = ready_worker(&cluster.tmp.path().join("a"), &core, "vw-a", &env);
    let b = ready_worker(&cluster.tmp.path().join("b"), &core, "vw-b", &env);
    let key = core.register_component("lion-lb");
    let (mut to_a, mut to_b) = (Lion::new(key.clone(), a.port), Lion::new(key, b.port));
    let sid = "9d1c2b3a-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
    let inputs = tempfile::tempdir().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|n| {
            let raw = std::fs::read(small_recording(
                inputs.path(),
                &format!("{n}.guac"),
                [90, 60 * n as u8, 30, 255],
            ));
            (format!("{sid}.{n}.part.gz"), gzip(&raw.unwrap()))
        })
        .collect();
    // The load balancer sends the announcement to one node and the parts
    // to the other, alternating.
    let created = to_a.create_task(sid, 1024, 768, &files, true);
    assert!(created.status < 300, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["id"].as_str().unwrap().to_string();
    for (i, (name, data)) in files.iter().enumerate() {
        let lion = if i % 2 == 0 { &mut to_b } else { &mut to_a };
        let answer = lion.upload_part(&id, i, name, data);
        assert_eq!(answer.json()["ok"], true, "part {i}: {}", String::from_utf8_lossy(&answer.body));
    }
    core.wait_has_replay(&a, sid);
    core.with(|c| {
        assert!(c.bad_calls.is_empty(), "{:?}", c.bad_calls);
        let mut names: Vec<&str> = c.replays.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        let want = [
            format!("{sid}.0.part.mp4"),
            format!("{sid}.1.part.mp4"),
            format!("{sid}.2.part.mp4"),
            format!("{sid}.replay.json"),
        ];
        assert_eq!(names, want, "every part once, and the index");
    });
    let task = a.wait_finished(&id, LONG);
    assert_eq!((task["state"].as_str(), task["input_parts"].as_u64()), (Some("done"), Some(3)), "{task}");
    assert_eq!(b.get_json(&format!("/api/v1/tasks/{id}"))["state"], "done");
}

#[test]
fn sigterm_past_the_grace_period_hands_the_job_back_at_once() {
    let Some(cluster) = Cluster::start() else { return };
    // An ack wait far longer than the test waits: only a job handed back
    // at once can finish on the other transcoder in time.
    let env = [("NATS_ACK_WAIT_SECONDS", "600"), ("SHUTDOWN_GRACE_SECONDS", "1")];
    let receiver = cluster.node("receiver", "receiver", &env);
    let mut t1 = cluster.node("t1", "transcoder", &env);
    let id = receiver.upload_raw(&common::sample(common::RDP), "handed-back");
    receiver.wait_for(&id, LONG, |t| t["state"] == "converting" && t["worker"] == "t1");
    t1.terminate();
    assert!(t1.log().contains("job handed back"), "{}", t1.log());
    let _t2 = cluster.node("t2", "transcoder", &env);
    let task = receiver.wait_finished(&id, Duration::from_secs(120));
    assert_eq!((task["state"].as_str(), task["worker"].as_str()), (Some("done"), Some("t2")), "{task}");
    assert_eq!(stored_mp4s(&cluster.storage()).len(), 1);
}

#[test]
fn staging_in_s3_keeps_recordings_sealed_until_the_outputs_are_stored() {
    use common::storage_servers::S3Server;
    let Some(cluster) = Cluster::start() else { return };
    let Some(s3) = S3Server::start("staging") else { return };
    let env = [
        ("STAGING", "s3"),
        ("STAGING_S3_ENDPOINT", s3.endpoint.as_str()),
        ("STAGING_S3_BUCKET", s3.bucket.as_str()),
        ("STAGING_S3_REGION", s3.region.as_str()),
        ("STAGING_S3_ACCESS_KEY", s3.access_key.as_str()),
        ("STAGING_S3_SECRET_KEY", s3.secret_key.as_str()),
        ("VIDEO_WORKER_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    ];
    let receiver = cluster.node("receiver", "receiver", &env);
    let inputs = tempfile::tempdir().unwrap();
    let rec = small_recording(inputs.path(), "sealed.guac", [10, 20, 200, 255]);
    let id = receiver.upload_raw(&rec, "sealed");
    let part = format!("{id}/input/0000.guac");
    wait_until("the part to be staged", Duration::from_secs(30), || {
        s3.objects().iter().any(|(k, _)| *k == part)
    });
    let staged = s3.get(&part);
    let clear = std::fs::read(&rec).unwrap();
    assert!(!staged.windows(12).any(|w| w == &clear[..12]), "the staged recording is sealed");
    // The received copy goes once the task is staged and recorded.
    let input = cluster.tmp.path().join("receiver/tasks").join(&id).join("input");
    wait_until("the received copy to go (no second copy)", Duration::from_secs(15), || !input.exists());
    let _t1 = cluster.node("t1", "transcoder", &env);
    let task = receiver.wait_finished(&id, LONG);
    assert_eq!(task["state"], "done", "{task}");
    // The staged part goes right after the done record is written (never
    // before: a failed write must leave the input), so it may take a moment.
    let only_log =
        || s3.objects().into_iter().map(|(k, _)| k).collect::<Vec<String>>() == [format!("{id}/task.log")];
    wait_until("the staged part to go once stored, the log staying", Duration::from_secs(15), only_log);
    let (_, log) = receiver.get(&format!("/api/v1/tasks/{id}/log"));
    assert!(log.contains("received on receiver") && log.contains("started on worker t1"), "{log}");
}

/// Fenced claims, through the queue seam against the real server: once
/// another node claimed the task (as after the ack wait, while this one was
/// cut off), this node's late writes are refused, the record keeps the new
/// holder's state, and the staged recording stays; a done task whose job
/// comes again stays done.
#[test]
fn a_claim_lost_to_another_node_refuses_the_late_attempt_and_done_stays_done() {
    use video_worker::pipeline::model::{Origin, State, Task, new_task_id, today};
    use video_worker::pipeline::queue::{Outcome, QueueError, Received, TaskStore, WorkQueue};
    use video_worker::queues::nats::{Background, NatsQueue};
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = NatsServer::start(dir.path()) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let cluster = video_worker::config::Cluster {
            urls: vec![nats.url()],
            creds_file: None,
            token: None,
            user_password: None,
            tls_ca_file: None,
            replicas: 1,
            ack_wait: Duration::from_secs(30),
            staging: video_worker::config::Staging::Nats,
        };
        let data = dir.path().join("node-a");
        std::fs::create_dir_all(data.join("tasks")).unwrap();
        let outbox = video_worker::queues::sqlite::SqliteQueue::open(&data.join("outbox.db"), None).unwrap();
        let background = Background {
            shutdown: tokio_util::sync::CancellationToken::new(),
            tracker: tokio_util::task::TaskTracker::new(),
        };
        let a = NatsQueue::start(&cluster, "node-a", outbox, data.join("tasks"), None, None, background)
            .await
            .unwrap();
        // A recording received on node A, handed to the cluster.
        let id = new_task_id();
        a.insert(Task::receiving(&id, "s1", Origin::Api, today())).await.unwrap();
        let task_dir = video_worker::pipeline::task_dir::TaskDir::new(&data.join("tasks"), &id);
        task_dir.create().unwrap();
        std::fs::write(task_dir.part(0), b"4.sync,4.1000;").unwrap();
        let received = Received { session_id: "s1".into(), parts: 1, bytes: 14, metadata: None };
        a.enqueue(&id, received).await.unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let lease = a.next("node-a", Duration::from_secs(30), &stop).await.unwrap().expect("the job");
        lease.progress(0.5).await.unwrap();
        // Node B claims the record meanwhile.
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let kv = js.get_key_value("video_worker_tasks").await.unwrap();
        rewrite(&kv, &id, |r| {
            r["worker"] = "node-b".into();
            r["attempts"] = 2.into();
        })
        .await;
        let late = lease.progress(0.9).await;
        assert!(matches!(late, Err(QueueError::LostClaim(_))), "{late:?}");
        assert!(lease.is_lost());
        assert!(matches!(lease.confirm().await, Err(QueueError::LostClaim(_))), "no effect after the loss");
        let settled = lease.settle(Outcome::Done { outputs: vec![], note: None }).await;
        assert!(matches!(settled, Err(QueueError::LostClaim(_))), "{settled:?}");
        let record = a.get(&id).await.unwrap().unwrap();
        assert_eq!((record.state, record.worker.as_deref()), (State::Converting, Some("node-b")));
        assert_eq!(record.progress, 0.5, "the late progress was not written");
        let staging = js.get_object_store("video_worker_staging").await.unwrap();
        assert!(staging.info(&format!("{id}/input/0000.guac")).await.is_ok(), "the staged recording stays");
        // Node B finishes; a job for the task that comes again changes nothing.
        rewrite(&kv, &id, |r| {
            r["state"] = "done".into();
            r["finished_at"] = 1.into();
        })
        .await;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("{id}.again").as_str());
        let job = serde_json::json!({ "task": id }).to_string();
        js.publish_with_headers("video_worker.jobs", headers, job.into()).await.unwrap().await.unwrap();
        let again = a.next("node-a", Duration::from_secs(3), &stop).await.unwrap();
        assert!(again.is_none(), "a done task is never claimed again");
        assert_eq!(a.get(&id).await.unwrap().unwrap().state, State::Done);
    });
}

/// Another node's write of a task record (the test plays node B).
async fn rewrite(kv: &async_nats::jetstream::kv::Store, id: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let entry = kv.entry(id).await.unwrap().unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&entry.value).unwrap();
    f(&mut record);
    kv.update(id, serde_json::to_vec(&record).unwrap().into(), entry.revision).await.unwrap();
}

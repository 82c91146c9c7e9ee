#!/usr/bin/env python3
"""Cluster benchmark: tasks per minute with one and with two transcoders
(VIDEO_WORKER_COUNT=1 each) on the real samples, and the queue's own
overhead per task (ms from the receiver's 202 to a transcoder starting it,
with everything idle). Real processes: a nats-server, a receiver, transcoders.

    cargo build --release && python3 scripts/bench-cluster.py [--tasks 8]

Needs nats-server (scripts/nats-server.sh) and the samples (../shared/samples
or VW_SAMPLES). Figures go to stdout; docs/benchmarks.md keeps them.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "video-worker")
NATS = os.environ.get("VW_NATS_SERVER", os.path.expanduser("~/.cache/video-worker/tools/nats-venv/bin/nats-server"))
SAMPLES = os.environ.get("VW_SAMPLES", os.path.join(ROOT, "..", "shared", "samples"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def http(port, path, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/octet-stream"} if data else {})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def node(tmp, name, role, nats_port, storage, procs):
    port = free_port()
    env = dict(os.environ, NAME=name, VIDEO_WORKER_ROLE=role, NATS_URL=f"nats://127.0.0.1:{nats_port}",
               DATA_DIR=os.path.join(tmp, name), HTTPD_PORT=str(port), BIND_HOST="127.0.0.1",
               LOCAL_STORAGE_DIR=storage, VIDEO_WORKER_COUNT="1", LOG_LEVEL="WARN")
    os.makedirs(env["DATA_DIR"], exist_ok=True)
    log = open(os.path.join(env["DATA_DIR"], "serve.log"), "w")
    procs.append(subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log))
    wait_port(port)
    return port


def wait_done(port, ids, timeout=1800):
    end = time.time() + timeout
    pending = set(ids)
    while pending:
        if time.time() > end:
            sys.exit(f"tasks did not finish: {pending}")
        for i in list(pending):
            if http(port, f"/api/v1/tasks/{i}")["state"] in ("done", "failed"):
                pending.discard(i)
        time.sleep(0.1)


def run(transcoders, tasks, samples):
    tmp = tempfile.mkdtemp(prefix="vw-bench-cluster-")
    procs = []
    try:
        nats_port = free_port()
        procs.append(subprocess.Popen([NATS, "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd",
                                       os.path.join(tmp, "nats")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_port(nats_port)
        storage = os.path.join(tmp, "replays")
        receiver = node(tmp, "receiver", "receiver", nats_port, storage, procs)
        for t in range(transcoders):
            node(tmp, f"t{t + 1}", "transcoder", nats_port, storage, procs)
        time.sleep(1.0)  # every node has made or found the stream
        # Overhead: one small task at a time on an idle cluster.
        overheads = []
        small = samples[0]
        for k in range(5):
            sent = time.time()
            tid = http(receiver, f"/api/v1/recordings?session_id=idle-{k}", small)["id"]
            while True:
                t = http(receiver, f"/api/v1/tasks/{tid}")
                if t["state"] in ("converting", "uploading", "done"):
                    break
                time.sleep(0.002)
            overheads.append((time.time() - sent) * 1000)
            wait_done(receiver, [tid])
        # Throughput: `tasks` uploads at once.
        start = time.time()
        ids = [http(receiver, f"/api/v1/recordings?session_id=load-{k}", samples[k % len(samples)])["id"]
               for k in range(tasks)]
        wait_done(receiver, ids)
        minutes = (time.time() - start) / 60
        workers = sorted({http(receiver, f"/api/v1/tasks/{i}")["worker"] for i in ids})
        return tasks / minutes, sorted(overheads)[len(overheads) // 2], workers
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    args = ap.parse_args()
    names = ["rdp-1280x800-2min-pngjpeg.guac", "vnc-1280x800-3min.guac"]
    samples = [open(os.path.join(SAMPLES, n), "rb").read() for n in names]
    for n in (1, 2):
        rate, overhead, workers = run(n, args.tasks, samples)
        print(f"transcoders={n} tasks={args.tasks} tasks_per_minute={rate:.2f} "
              f"queue_overhead_ms_median={overhead:.0f} workers={','.join(workers)}")


if __name__ == "__main__":
    main()

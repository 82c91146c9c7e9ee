#!/usr/bin/env bash
# The quickest look at video-worker: starts the service on its embedded
# defaults (loopback, port 9000), uploads a real guacd recording through the
# API, follows the task to the end, fetches the MP4 and a snapshot, and
# stops the service. Everything lands in demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/video-worker"
out="demo-out"
port="${HTTPD_PORT:-9000}"
api="http://127.0.0.1:$port"
mkdir -p "$out"
recording="assets/demo/vnc-1280x800-3min.guac.gz"

echo "demo: starting the service (log: $out/serve.log)"
DATA_DIR="$out/data" HTTPD_PORT="$port" "$bin" serve >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$api/video-worker/health/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$api/video-worker/health/"; echo

echo "demo: uploading $recording"
task=$(curl -fsS -F session_id=demo-session -F "file=@$recording" "$api/api/v1/recordings")
id=$(printf '%s' "$task" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
echo "demo: task $id accepted"
while :; do
  state=$(curl -fsS "$api/api/v1/tasks/$id" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
  printf '\rdemo: task %s is %-10s' "$id" "$state"
  case "$state" in done|failed) echo; break ;; esac
  sleep 0.5
done
curl -fsS "$api/api/v1/tasks/$id/log"
curl -fsS -o "$out/demo-session.mp4" "$api/api/v1/tasks/$id/output"
"$bin" snapshot "$recording" --at 90000 -o "$out/demo-90s.png" >/dev/null
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
trap - EXIT
echo "demo: $out/demo-session.mp4 is the video (also stored in $out/data/replays/), $out/demo-90s.png the screen at 90 s."
echo "demo: run the service yourself with: $bin serve   (see docs/operations.md)"

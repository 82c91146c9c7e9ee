#!/usr/bin/env bash
# Converts a real guacd recording (shipped in assets/demo) with the default
# settings and takes a snapshot of it: the quickest look at what this does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
out="demo-out"
mkdir -p "$out"
bin="${CARGO_TARGET_DIR:-target}/release/video-worker"
"$bin" convert assets/demo/vnc-1280x800-3min.guac.gz -o "$out/vnc-demo.mp4"
"$bin" snapshot assets/demo/vnc-1280x800-3min.guac.gz --at 90000 -o "$out/vnc-demo-90s.png"
echo "demo: open $out/vnc-demo.mp4 in a browser or player; $out/vnc-demo-90s.png is the screen at 90 s"

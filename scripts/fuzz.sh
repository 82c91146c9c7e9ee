#!/usr/bin/env bash
# Runs each fuzz target for a bounded time: scripts/fuzz.sh [SECONDS]
# The seed corpora live in fuzz/corpus/<target>; inputs found on the way go
# to a scratch directory so the repository does not grow by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo fuzz needs unstable compiler flags; the one toolchain here is stable.
export RUSTC_BOOTSTRAP=1
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in parser player asciicast document typescript download gateway_json gateway_form; do
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${seconds}s"
  log="$scratch/$target.log"
  if ! cargo fuzz run --release "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    # A finding: show the failure itself (the input is in fuzz/artifacts/<target>/).
    grep -m 3 -A 12 -E "panicked|ERROR: libFuzzer|deadly signal" "$log" || true
    tail -n 30 "$log"
    exit 1
  fi
  tail -n 12 "$log"
done

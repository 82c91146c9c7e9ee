#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, pixel, end-to-end
# (real ffmpeg) and reference-player conformance tests (real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
(cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Every test target, without doc-tests (there are none) or benchmarks.
VW_REQUIRE_CONFORMANCE=1 cargo test --release --lib --bins --tests

#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, pixel, end-to-end
# (real ffmpeg), the reference player's conformance and the web console
# (real Chromium), storage (real S3 and Azure Blob servers on loopback) and
# the cluster (a real nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
(cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
# moto (S3) and Azurite (Azure Blob): the tests start them on free ports.
eval "$(scripts/storage-servers.sh)"
export VW_MOTO VW_AZURITE
# A real nats-server for the cluster tests (tests/cluster.rs).
eval "$(scripts/nats-server.sh)"
export VW_NATS_SERVER

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Every test target, without doc-tests (there are none) or benchmarks.
# The disk-full test mounts a small tmpfs: required when running as root (CI).
[ "$(id -u)" -eq 0 ] && export VW_REQUIRE_ROOT=1
# The terminal OCR test needs tesseract (setup.sh --tests installs it).
VW_REQUIRE_CONFORMANCE=1 VW_REQUIRE_STORAGE_SERVERS=1 VW_REQUIRE_NATS=1 VW_REQUIRE_TERMINAL_TOOLS=1 cargo test --release --no-fail-fast --lib --bins --tests

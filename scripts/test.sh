#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, pixel, end-to-end
# (real ffmpeg), reference-player conformance (real Chromium) and storage
# tests (real S3 and Azure Blob servers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
(cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
# moto (S3) and Azurite (Azure Blob): the tests start them on free ports.
eval "$(scripts/storage-servers.sh)"
export VW_MOTO VW_AZURITE

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Every test target, without doc-tests (there are none) or benchmarks.
# The disk-full test mounts a small tmpfs: required when running as root (CI).
[ "$(id -u)" -eq 0 ] && export VW_REQUIRE_ROOT=1
VW_REQUIRE_CONFORMANCE=1 VW_REQUIRE_STORAGE_SERVERS=1 cargo test --release --lib --bins --tests

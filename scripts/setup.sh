#!/usr/bin/env bash
# Installs what video-worker needs on Debian, once (it checks first).
#   scripts/setup.sh            ffmpeg and a C compiler: enough to build and run
#   scripts/setup.sh --tests    also Chromium and Node.js for the reference-player tests,
#                               tesseract (English, Simplified Chinese) and Pillow (FreeType's
#                               hinted reference picture) for the terminal OCR tests
# No fonts: terminal recordings are drawn in fonts compiled into the binary (docs/terminal.md).
set -euo pipefail

want_tests=false
[ "${1:-}" = "--tests" ] && want_tests=true

need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
if $want_tests; then
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
  [ -n "$(find /usr/share/tesseract-ocr -name chi_sim.traineddata 2>/dev/null | head -1)" ] || need+=(tesseract-ocr-chi-sim)
  python3 -c 'import PIL' >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Pillow draws the FreeType-hinted picture the terminal crispness test compares with.
if $want_tests && ! python3 -c 'import PIL' >/dev/null 2>&1; then
  echo "setup: installing Pillow"
  python3 -m pip install --quiet pillow 2>/dev/null || python3 -m pip install --quiet --break-system-packages pillow
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

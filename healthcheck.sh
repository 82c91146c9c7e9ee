#!/bin/sh
# Docker/compose health probe: healthy while the worker can work (HTTP 200).
# The endpoint answers 503 when the data directory is not writable or ffmpeg is missing.
exec curl -fsS --max-time 4 -o /dev/null "http://127.0.0.1:${HTTPD_PORT:-9000}/video-worker/health/"

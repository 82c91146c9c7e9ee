#!/bin/sh
# Docker/compose health probe: healthy while the worker can work (HTTP 200).
# The endpoint answers 503 when the data directory is not writable or ffmpeg
# is missing; the body (which names the problem and the fix) is printed, so
# `docker inspect --format '{{json .State.Health}}' jms_video` shows it.
exec curl -sS --max-time 4 --fail-with-body "http://127.0.0.1:${HTTPD_PORT:-9000}/video-worker/health/"

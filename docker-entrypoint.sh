#!/bin/sh
# Container entrypoint. Started as root (the default), it gives DATA_DIR to
# the worker's user, as a fresh host directory mounted there is root's, then
# runs tini and the worker as that user; nothing keeps running as root.
# Started with --user, it runs as that user directly.
set -eu
worker_uid=$(id -u worker)
worker_gid=$(id -g worker)
run="/usr/bin/tini -- /usr/local/bin/video-worker"

if [ "$(id -u)" = 0 ]; then
  dir=${DATA_DIR:-/opt/video-worker/data}
  mkdir -p "$dir" 2>/dev/null || true
  # Only what is not the worker's yet: cheap on a large tree that already is.
  if ! err=$(find "$dir" \( ! -user "$worker_uid" -o ! -group "$worker_gid" \) \
               -exec chown -h "$worker_uid:$worker_gid" {} + 2>&1); then
    echo "video-worker: cannot give DATA_DIR $dir to uid $worker_uid: $err" >&2
    echo "video-worker: the health check fails until it is writable: make the volume read-write, or on the host run" \
         "chown -R $worker_uid:$worker_gid <the host directory mounted at $dir> (e.g. /data/video/data)" >&2
  fi
  # shellcheck disable=SC2086
  exec setpriv --reuid="$worker_uid" --regid="$worker_gid" --init-groups -- $run "$@"
fi
# shellcheck disable=SC2086
exec $run "$@"

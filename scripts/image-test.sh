#!/usr/bin/env bash
# The container image, end to end, the way a JumpServer admin runs it:
#   1. a Docker engine (Debian's docker.io + docker-compose; dockerd started
#      here when none answers; there is no systemd to rely on),
#   2. the base images the Dockerfile names, made locally with mmdebstrap
#      when the engine does not have them (no registry is assumed),
#   3. the image built from the real Dockerfile (BuildKit; the cargo registry
#      and target directory stay in the engine's build cache between runs),
#   4. started with the real docker-compose-video.yml (a copy whose host paths
#      point into a temporary directory; the data directory freshly made and
#      owned by root, as /data/video/data is on a fresh host),
#   5. probed from the host: the engine's own health status, an upload through
#      the published port, the MP4 fetched and checked with ffprobe, the
#      worker's uid, a SIGTERM stop within the grace period,
#   6. everything it made removed (the base images and the build cache stay:
#      they are what makes the next run warm).
# It never skips: where the engine cannot run, it says why and fails.
#   scripts/image-test.sh            (as root, or with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)

say() { echo "image-test: $*"; }
die() {
  echo "image-test: FAIL: $*" >&2
  exit 1
}
elapsed() { echo "$(($(date +%s) - started))s"; }

[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@"

# --- 1. The engine ----------------------------------------------------------
need=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq || die "apt-get update failed: cannot install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
fi
# Debian's CLI, whatever else is first in PATH: it carries the BuildKit
# client the engine's builder needs (a newer CLI wants the buildx plugin).
docker() { /usr/bin/docker "$@"; }
export DOCKER_BUILDKIT=1

work=$(mktemp -d /tmp/video-worker-image-test.XXXXXX)
dockerd_pid=""
tag="video-worker:image-test-$$"
projects=() # compose projects started, each in $work/<project>/
compose() { docker-compose -p "$1" -f "$work/$1/docker-compose-video.yml" "${@:2}"; }
cleanup() {
  local rc=$? p
  set +e
  if docker info >/dev/null 2>&1; then
    for p in "${projects[@]}"; do
      [ $rc -ne 0 ] && compose "$p" logs --no-color --tail=50 2>/dev/null
      compose "$p" down --volumes --remove-orphans >/dev/null 2>&1
    done
  fi
  docker image rm -f "$tag" >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -rf "$work"
  if [ $rc -eq 0 ]; then say "passed in $(elapsed)"; else echo "image-test: failed after $(elapsed)" >&2; fi
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  say "using the running Docker engine"
else
  [ -e /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null \
    && rm -f /var/run/docker.sock /var/run/docker.pid
  # Containers get the MTU of the host's way out (a bridge at 1500 behind a
  # smaller link stalls TLS downloads during the build).
  iface=$(ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1); exit}')
  mtu=$(cat "/sys/class/net/${iface:-eth0}/mtu" 2>/dev/null || echo 1500)
  say "starting dockerd (MTU $mtu); its log: $work/dockerd.log"
  setsid /usr/sbin/dockerd --mtu "$mtu" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 20 "$work/dockerd.log" >&2
    die "the Docker engine does not start here (dockerd's last words above): the image cannot be tested on this machine"
  fi
fi
docker run --rm --help >/dev/null 2>&1 || die "the docker CLI does not work"

# --- 2. Base images -----------------------------------------------------------
# The host's apt settings that make its mirrors work (e.g. a frozen mirror
# whose Release files have expired) go into the images too.
apt_conf=$(apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|https?::proxy) ' || true)
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[ -e "${extra_cas[0]}" ] || extra_cas=()
debootstrap_common=(
  --variant=minbase --mode=root --format=tar
  # Merged /usr without the usrmerge package (which would drag Perl in).
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # As the official slim images: no documentation, manuals or locales.
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --customize-hook='printf "%s\n" "$VW_APT_CONF" > "$1/etc/apt/apt.conf.d/90host"'
  --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"'
)
for ca in "${extra_cas[@]}"; do
  debootstrap_common+=(--customize-hook="cp '$ca' \"\$1/usr/local/share/ca-certificates/\"")
done
debootstrap_common+=(--customize-hook='if [ -x "$1/usr/sbin/update-ca-certificates" ]; then chroot "$1" update-ca-certificates >/dev/null; fi')
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
export VW_APT_CONF="$apt_conf"
[ -n "$apt_conf" ] && debootstrap_common+=(--aptopt="$apt_conf")

make_debian() { # debian:bookworm-slim
  say "making $1 locally (mmdebstrap bookworm minbase)"
  mmdebstrap "${debootstrap_common[@]}" bookworm - "${mirrors[@]}" 2>"$work/mmdebstrap.log" \
    | docker import --change 'CMD ["bash"]' -m "made by scripts/image-test.sh" - "$1" >/dev/null \
    || { tail -n 20 "$work/mmdebstrap.log" >&2; die "could not make $1"; }
}

make_rust() { # rust:<version>-slim-bookworm, with the host's toolchain
  local want=$2 have sysroot name
  have=$(rustc --version 2>/dev/null | awk '{print $2}')
  [ -n "$have" ] || die "$1 is not in the engine and there is no host Rust toolchain to make it from"
  case "$have" in "$want" | "$want".*) ;; *)
    die "the Dockerfile wants $1 but the host has rustc $have: rustup toolchain install $want (and make it the default), or pull $1" ;;
  esac
  sysroot=$(rustc --print sysroot)
  name="$have-x86_64-unknown-linux-gnu"
  say "making $1 locally (mmdebstrap bookworm + gcc + the host's rustc $have from $sysroot)"
  export VW_SYSROOT="$sysroot" VW_TOOLCHAIN="$name" VW_RUSTUP
  VW_RUSTUP=$(command -v rustup) || die "rustup is missing on the host"
  VW_RUSTUP=$(readlink -f "$VW_RUSTUP")
  # The toolchain without its documentation; rustup's proxies as in the
  # official image (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo).
  mmdebstrap "${debootstrap_common[@]}" --include=ca-certificates,gcc,libc6-dev \
    --customize-hook='t="$1/usr/local/rustup/toolchains/$VW_TOOLCHAIN"; mkdir -p "$t" "$1/usr/local/cargo/bin"
      for d in bin lib libexec etc; do [ -e "$VW_SYSROOT/$d" ] && cp -a "$VW_SYSROOT/$d" "$t/"; done
      cp "$VW_RUSTUP" "$1/usr/local/cargo/bin/rustup"
      for p in cargo rustc rustdoc cargo-clippy clippy-driver rustfmt cargo-fmt; do ln -f "$1/usr/local/cargo/bin/rustup" "$1/usr/local/cargo/bin/$p"; done
      printf "version = \"12\"\ndefault_toolchain = \"%s\"\nprofile = \"minimal\"\n" "$VW_TOOLCHAIN" > "$1/usr/local/rustup/settings.toml"
      chmod -R a+w "$1/usr/local/rustup" "$1/usr/local/cargo"' \
    bookworm - "${mirrors[@]}" 2>"$work/mmdebstrap.log" \
    | docker import -m "made by scripts/image-test.sh" \
      --change 'ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV RUST_VERSION=$have" --change 'CMD ["bash"]' - "$1" >/dev/null \
    || { tail -n 20 "$work/mmdebstrap.log" >&2; die "could not make $1"; }
  docker run --rm "$1" cargo --version >/dev/null || die "$1 was made but cargo does not run in it"
}

for base in $(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u); do
  if docker image inspect "$base" >/dev/null 2>&1; then
    say "base image $base: in the engine"
    continue
  fi
  case "$base" in
    debian:bookworm-slim) make_debian "$base" ;;
    rust:*-slim-bookworm) v=${base#rust:} && make_rust "$base" "${v%-slim-bookworm}" ;;
    *) die "the Dockerfile names $base, which is not in the engine and which this script cannot make" ;;
  esac
done
say "base images ready ($(elapsed))"

# --- 3. The image -------------------------------------------------------------
build_started=$(date +%s)
say "building $tag from the Dockerfile"
# The build's steps, their times and cargo's verdict (the full log on failure).
set +e
docker build --progress=plain -t "$tag" . 2>&1 | tee "$work/build.log" \
  | awk '/^#[0-9]+ (\[|DONE|CACHED|ERROR)|error(\[|:)|Finished / && !seen[$0]++ { print; fflush() }' 
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { tail -n 60 "$work/build.log" >&2; die "the image does not build"; }
build_seconds=$(($(date +%s) - build_started))
cached=$(grep -c ' CACHED$' "$work/build.log" || true)
compiled=$(grep -c ' Compiling ' "$work/build.log" || true)
size=$(docker image inspect -f '{{.Size}}' "$tag")
say "image built in ${build_seconds}s: $((size / 1000000)) MB; $cached steps from the build cache, $compiled crates compiled"

# --- 4. Started with the real compose file -------------------------------------
# A copy of docker-compose-video.yml for one run: only the host side changes
# (paths into $work/<project>, the port on loopback, this run's image and a
# container name of its own). $2: the data directory's mount options ("" or
# ":ro"); $3: the env file's lines.
grace=$(awk '/stop_grace_period:/ { sub(/s$/, "", $2); print $2 }' docker-compose-video.yml)
start_compose() {
  local p=$1 d="$work/$1"
  mkdir -p "$d/video/data" # root's, mode 755: a fresh host
  printf '%s\n' "$3" >"$d/config.txt"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sed -e "s#- /data/config.txt#- $d/config.txt#" \
    -e "s#- /data/video/data:/opt/video-worker/data#- $d/video/data:/opt/video-worker/data$2#" \
    -e "s#- \"9000:9000\"#- \"127.0.0.1:$port:9000\"#" \
    -e "s#image: video-worker:latest#image: $tag#" \
    -e "s#build: \.#build: $repo#" \
    -e "s#container_name: jms_video#container_name: ${p}_video#" \
    docker-compose-video.yml >"$d/docker-compose-video.yml"
  for want in "$d/config.txt" "$d/video/data:/opt/video-worker/data$2" "127.0.0.1:$port:9000" "image: $tag" \
    "container_name: ${p}_video"; do
    grep -qF -- "$want" "$d/docker-compose-video.yml" \
      || die "docker-compose-video.yml changed shape: this script no longer finds what to point at $want"
  done
  projects+=("$p")
  say "$p: compose up (port 127.0.0.1:$port, data $d/video/data${2:+ ($2)}, owned by $(stat -c %U "$d/video/data"))"
  compose "$p" up -d --no-build || die "docker-compose up failed"
  cid=$(compose "$p" ps -q video)
  [ -n "$cid" ] || die "the compose service video has no container"
  api="http://127.0.0.1:$port"
}
# Waits for the engine's health status $1 (healthy or unhealthy).
wait_health() {
  local health=""
  for _ in $(seq 1 60); do
    health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid")
    [ "$health" = healthy ] || [ "$health" = unhealthy ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$cid")" = true ] || break
    sleep 2
  done
  if [ "$health" != "$1" ]; then
    docker inspect -f '{{json .State}}' "$cid" >&2
    die "the engine reports the container as '$health', not $1"
  fi
}

token="image-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_compose "vwit$$" "" "VIDEO_WORKER_API_TOKEN=$token
LOG_LEVEL=INFO"
wait_health healthy
say "the engine reports the container healthy ($(elapsed))"

# --- 5. Probed from the host ---------------------------------------------------
owner=$(stat -c %u "$work/vwit$$/video/data")
[ "$owner" = 10001 ] || die "the data directory is owned by uid $owner after start, not by the worker (10001)"
curl -fsS "$api/video-worker/health/" >/dev/null || die "the health endpoint does not answer through the published port"
curl -fsS "$api/metrics" >/dev/null || die "/metrics does not answer through the published port"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$api/api/v1/tasks")
[ "$code" = 401 ] || die "the API answered $code to a caller without the token (want 401)"

# Everything the entrypoint started (tini, the worker, ffmpeg) is the
# worker's; only the engine's health probe (docker exec) runs as root.
users=$(docker top "$cid" -eo pid,uid,comm | awk 'NR > 1 && $3 != "healthcheck.sh" && $3 != "curl" { print $2 ":" $3 }')
echo "$users" | grep -q '^10001:video-worker$' || die "video-worker does not run as uid 10001: $users"
others=$(echo "$users" | grep -v '^10001:' || true)
[ -z "$others" ] || die "processes in the container run as another user than the worker (10001): $others"
say "processes in the container (uid:command): $(echo $users)"

sample=assets/demo/vnc-1280x800-3min.guac.gz
auth=(-H "Authorization: Bearer $token")
convert_started=$(date +%s)
reply=$(curl -fsS "${auth[@]}" -F session_id=image-test -F "file=@$sample" "$api/api/v1/recordings") \
  || die "the upload through the published port failed"
id=$(printf '%s' "$reply" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || die "the upload answered without a task id: $reply"
say "uploaded $sample: task $id"
state=""
for _ in $(seq 1 300); do
  state=$(curl -fsS "${auth[@]}" "$api/api/v1/tasks/$id" | sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p')
  case "$state" in done | failed) break ;; esac
  sleep 1
done
[ "$state" = done ] || {
  curl -sS "${auth[@]}" "$api/api/v1/tasks/$id/log" >&2
  die "the task ended '$state', not done"
}
curl -fsS "${auth[@]}" -o "$work/out.mp4" "$api/api/v1/tasks/$id/output" || die "the MP4 cannot be fetched"
probe=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height:format=duration \
  -of default=noprint_wrappers=1 "$work/out.mp4") || die "ffprobe cannot read the MP4"
codec=$(echo "$probe" | sed -n 's/^codec_name=//p')
duration=$(echo "$probe" | sed -n 's/^duration=//p')
[ "$codec" = h264 ] || die "the MP4's video is '$codec', not h264"
awk -v d="$duration" 'BEGIN { exit !(d >= 170 && d <= 200) }' \
  || die "the MP4 lasts ${duration}s; the 3-minute sample should give 170 to 200 s"
say "MP4 fetched after $(($(date +%s) - convert_started))s: $(stat -c %s "$work/out.mp4") bytes, $(echo $probe)"

# SIGTERM (what docker stop and compose stop send), within the grace period.
stop_started=$(date +%s)
compose "vwit$$" stop >/dev/null 2>&1 || die "docker-compose stop failed"
stop_seconds=$(($(date +%s) - stop_started))
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
[ "$exit_code" = 0 ] || die "the worker exited with $exit_code after SIGTERM (137: killed at the end of the grace period)"
[ "$stop_seconds" -lt "${grace:-60}" ] || die "stopping took ${stop_seconds}s, the grace period is ${grace}s"
docker logs "$cid" 2>&1 | grep -q 'stopped' || die "the worker's log does not say it stopped cleanly"
say "stopped by SIGTERM in ${stop_seconds}s (grace ${grace}s), exit code 0"
compose "vwit$$" down --volumes >/dev/null 2>&1

# --- 6. What admins get wrong --------------------------------------------------
# No token: it still listens on BIND_HOST (health answers through the port),
# and the API refuses callers from outside the container.
start_compose "vwitnotoken$$" "" "LOG_LEVEL=INFO"
for _ in $(seq 1 60); do curl -fsS -o /dev/null "$api/video-worker/health/" 2>/dev/null && break; sleep 1; done
curl -fsS -o /dev/null "$api/video-worker/health/" || die "without a token, health does not answer through the published port"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$api/api/v1/tasks")
[ "$code" = 403 ] || die "without a token the API answered $code through the published port (want 403)"
docker logs "$cid" 2>&1 | grep -q 'answers loopback callers only' || die "without a token the start-up log does not say /api/v1/ is loopback-only"
say "no token: health answers through the port, /api/v1/ answers 403, the log says why"
compose "vwitnotoken$$" down --volumes >/dev/null 2>&1

# A volume the entrypoint cannot give to the worker (read-only): the
# container stays up, unhealthy, and its health names the directory, the uid
# and the fix.
start_compose "vwitreadonly$$" ":ro" "VIDEO_WORKER_API_TOKEN=$token"
wait_health unhealthy
body=$(curl -sS "$api/video-worker/health/")
code=$(curl -sS -o /dev/null -w '%{http_code}' "$api/video-worker/health/")
[ "$code" = 503 ] || die "a read-only volume gives health $code (want 503): $body"
for want in /opt/video-worker/data 'uid 10001' read-write; do
  echo "$body" | grep -qF "$want" || die "the health answer for a read-only volume does not name '$want': $body"
done
docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$cid" | grep -qF 'read-write' \
  || die "the engine's health log does not carry the reason"
[ "$(docker inspect -f '{{.RestartCount}}' "$cid")" = 0 ] || die "with a read-only volume the container restarts instead of staying unhealthy"
say "read-only volume: unhealthy, and the health says: $(echo "$body" | sed -n 's/.*"unavailable":\["\([^"]*\)".*/\1/p')"
compose "vwitreadonly$$" down --volumes >/dev/null 2>&1
say "image step: build ${build_seconds}s, $(elapsed) in all"

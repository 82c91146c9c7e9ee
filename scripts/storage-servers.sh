#!/usr/bin/env bash
# Installs the storage servers the integration tests run on loopback, once
# (it checks first): moto (S3, from PyPI) and Azurite (Azure Blob, from npm).
#   eval "$(scripts/storage-servers.sh)"   # sets VW_MOTO and VW_AZURITE
# Tools go under ${VW_TOOLS_DIR:-$HOME/.cache/video-worker/tools}; stdout
# carries only the two VW_… lines, everything else goes to stderr.
set -euo pipefail

# Keep stdout for the final `eval`-able lines only.
exec 3>&1 1>&2

tools="${VW_TOOLS_DIR:-$HOME/.cache/video-worker/tools}"
moto_spec=('moto[s3]==5.*' flask flask-cors)
azurite_version=3.35.0
venv="$tools/moto-venv"
moto="$venv/bin/moto_server"
azurite_dir="$tools/azurite"
azurite="$azurite_dir/node_modules/.bin/azurite-blob"

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "storage-servers: installing $* with apt"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Runs "$@" and reports how long it took.
timed() {
  local label=$1 start=$SECONDS
  shift
  "$@"
  echo "storage-servers: $label took $((SECONDS - start)) s"
}

moto_ok() {
  [ -x "$moto" ] && "$venv/bin/python" -c 'import moto.server, flask, flask_cors' 2>/dev/null
}

install_moto() {
  # Debian's python3 needs python3-venv for ensurepip inside a venv.
  local need=()
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv python3-pip)
  if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "${moto_spec[@]}"
}

azurite_ok() {
  [ -x "$azurite" ] &&
    grep -q "\"version\": \"$azurite_version\"" "$azurite_dir/node_modules/azurite/package.json" 2>/dev/null
}

install_azurite() {
  local need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
  mkdir -p "$azurite_dir"
  # A package.json of its own stops npm from walking up to a parent project.
  [ -f "$azurite_dir/package.json" ] || echo '{ "private": true }' >"$azurite_dir/package.json"
  (cd "$azurite_dir" && npm install --no-audit --no-fund --loglevel=error "azurite@$azurite_version")
}

mkdir -p "$tools"
if moto_ok; then
  echo "storage-servers: moto already installed ($moto)"
else
  timed "moto install" install_moto
  moto_ok || { echo "storage-servers: moto_server does not work after install" >&2; exit 1; }
fi
if azurite_ok; then
  echo "storage-servers: azurite $azurite_version already installed ($azurite)"
else
  timed "azurite install" install_azurite
  azurite_ok || { echo "storage-servers: azurite-blob missing after install" >&2; exit 1; }
fi

echo "VW_MOTO=$moto" >&3
echo "VW_AZURITE=$azurite" >&3

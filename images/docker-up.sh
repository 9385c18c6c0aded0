#!/usr/bin/env bash
# Make sure a Docker engine answers, and print the line that points the docker CLI at it:
#
#   eval "$(images/docker-up.sh)"      # exports DOCKER_HOST
#
# Order: an engine this project started before (socket under $FRUITS_CACHE), then whatever
# DOCKER_HOST / the default context reaches, and only then a new dockerd (root only) with its own
# socket, data root and log under $FRUITS_CACHE/docker. Messages go to stderr; stdout is the
# export line alone. Stop the engine this script started with `images/docker-up.sh --stop`.
set -euo pipefail

cache="${FRUITS_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.cache}"
state="$cache/docker"
sock="$cache/docker.sock"
pidfile="$state/dockerd.pid"
log="$state/dockerd.log"
wait_s="${DOCKER_UP_TIMEOUT:-60}"

say() { echo ">> $*" >&2; }
answers() { DOCKER_HOST="$1" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [[ "${1:-}" == "--stop" ]]; then
  if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "stopping dockerd $(cat "$pidfile")"
    kill "$(cat "$pidfile")"
  else
    say "no dockerd started from $state is running"
  fi
  exit 0
fi

command -v docker >/dev/null || { say "the docker CLI is missing (Debian: apt-get install docker.io)"; exit 1; }

if answers "unix://$sock"; then
  echo "export DOCKER_HOST=unix://$sock"
  exit 0
fi
if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  # An engine the caller already set up (DOCKER_HOST, a context, /var/run/docker.sock).
  echo "export DOCKER_HOST=${DOCKER_HOST:-$(docker context inspect --format '{{.Endpoints.docker.Host}}')}"
  exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! command -v dockerd >/dev/null; then
  say "no Docker engine answers and this script can only start one as root with dockerd installed"
  exit 1
fi
# A unix socket path must fit in 108 bytes.
if (( ${#sock} > 100 )); then
  say "FRUITS_CACHE is too long for a unix socket path ($sock); use a shorter FRUITS_CACHE"
  exit 1
fi

mkdir -p "$state/data"
# dockerd keeps containerd's sockets under --exec-root: keep that short and apart per cache.
exec_root="/run/fruits-docker-$(printf '%s' "$cache" | sha1sum | cut -c1-8)"
say "starting dockerd (socket $sock, data root $state/data, log $log)"
setsid nohup dockerd \
  --host "unix://$sock" \
  --data-root "$state/data" \
  --exec-root "$exec_root" \
  --pidfile "$pidfile" \
  >>"$log" 2>&1 </dev/null &

for ((i = 0; i < wait_s; i++)); do
  if answers "unix://$sock"; then
    say "dockerd is up after ${i}s"
    echo "export DOCKER_HOST=unix://$sock"
    exit 0
  fi
  sleep 1
done
say "dockerd did not answer within ${wait_s}s; last lines of $log:"
tail -n 20 "$log" >&2
exit 1

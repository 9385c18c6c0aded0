#!/usr/bin/env bash
# Make `docker run --privileged` work on the engine DOCKER_HOST points at; kind runs every node
# that way. On hosts whose capability bounding set lacks CAP_SYS_RESOURCE, runc refuses the
# privileged spec. Then this installs runc-wrapper.sh (which drops that capability) as the
# engine's default runtime, in the engine's daemon.json, and reloads the engine with SIGHUP
# (runtimes and default-runtime are reloadable: running containers are not touched). Idempotent.
#
# usage: hack/kind/docker-privileged.sh PROBE_IMAGE
set -euo pipefail
image=${1:?usage: $0 PROBE_IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
cache=${FRUITS_CACHE:-$(cd "$here/../.." && pwd)/.cache}
say() { echo ">> $*" >&2; }

probe() { docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >/dev/null 2>&1; }
if probe; then
    exit 0
fi
if grep -q '^CapBnd:.*' /proc/self/status && \
   (( (0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 24 & 1) == 1 )); then
    say "docker run --privileged fails, and not for CAP_SYS_RESOURCE:"
    docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >&2 || true
    exit 1
fi
command -v jq >/dev/null || { say "jq is needed by the runtime wrapper (apt-get install jq)"; exit 1; }

wrapper="$cache/kind/runtime/runc-no-sys-resource"
mkdir -p "$(dirname "$wrapper")"
install -m 0755 "$here/runc-wrapper.sh" "$wrapper"

pid=
# The engine behind DOCKER_HOST: match its --host argument, else the only dockerd.
for p in $(pgrep -x dockerd); do
    if tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "${DOCKER_HOST#unix://}"; then pid=$p; fi
done
[[ -n "$pid" ]] || { say "cannot find the dockerd process to reconfigure"; exit 1; }
config=$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n '/^--config-file$/{n;p}; s/^--config-file=//p' | head -1)
config=${config:-/etc/docker/daemon.json}
say "docker run --privileged needs CAP_SYS_RESOURCE, which this host lacks: making $wrapper"
say "the default runtime of dockerd $pid ($config) and reloading it"
mkdir -p "$(dirname "$config")"
[[ -s "$config" ]] || echo '{}' >"$config"
jq --arg w "$wrapper" '.runtimes["runc-no-sys-resource"] = {path: $w} | ."default-runtime" = "runc-no-sys-resource"' \
    "$config" >"$config.tmp" && mv "$config.tmp" "$config"
kill -HUP "$pid"
for _ in $(seq 20); do
    sleep 0.5
    if probe; then say "docker run --privileged works now"; exit 0; fi
done
say "docker run --privileged still fails:"
docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >&2 || true
exit 1

#!/usr/bin/env bash
# Make `docker run --privileged` work on the engine DOCKER_HOST points at; kind runs every node
# that way. On hosts whose capability bounding set lacks CAP_SYS_RESOURCE, runc refuses the
# privileged spec. Then, and only with FRUITS_EDIT_DAEMON_JSON=1 (the host's Docker configuration
# is not ours to change unasked), this installs runc-wrapper.sh (which drops that capability) as
# the engine's default runtime, in the engine's daemon.json, and reloads the engine with SIGHUP
# (runtimes and default-runtime are reloadable: running containers are not touched). The wrapper
# lives at a fixed host path, not in a cache, because daemon.json outlives any one clone.
# Idempotent; on a host where privileged containers work it changes nothing.
#
# usage: hack/airgap/docker-privileged.sh PROBE_IMAGE
set -euo pipefail
image=${1:?usage: $0 PROBE_IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
wrapper=${FRUITS_RUNC_WRAPPER:-/usr/local/libexec/fruits/runc-no-sys-resource}
runtime=runc-no-sys-resource
say() { echo ">> $*" >&2; }
probe() { docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >/dev/null 2>&1; }

# The engine behind DOCKER_HOST: the dockerd whose --host is that socket, else the only one.
pid=
for p in $(pgrep -x dockerd || true); do
    if [[ -z "$pid" ]] || [[ "$(tr '\0' ' ' <"/proc/$p/cmdline")" == *"${DOCKER_HOST#unix://}"* ]]; then pid=$p; fi
done
config=
if [[ -n "$pid" ]]; then
    mapfile -d '' -t args <"/proc/$pid/cmdline"
    for i in "${!args[@]}"; do
        case ${args[i]} in
        --config-file) config=${args[i + 1]:-}; break ;;
        --config-file=*) config=${args[i]#*=}; break ;;
        esac
    done
    config=${config:-/etc/docker/daemon.json}
fi
configured=$([[ -s "$config" ]] && jq -r --arg r "$runtime" '.runtimes[$r].path // empty' "$config" 2>/dev/null || true)

if probe && [[ -z "$configured" || "$configured" == "$wrapper" ]]; then
    [[ -z "$configured" ]] || install -D -m 0755 "$here/runc-wrapper.sh" "$wrapper"
    exit 0
fi
if (( (0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 24 & 1) == 1 )) && [[ -z "$configured" ]]; then
    say "docker run --privileged fails, and not for CAP_SYS_RESOURCE:"
    docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >&2 || true
    exit 1
fi
if [[ "${FRUITS_EDIT_DAEMON_JSON:-}" != 1 ]]; then
    say "docker run --privileged fails here: this host's capability bounding set lacks"
    say "CAP_SYS_RESOURCE, and kind runs its nodes privileged. The fix edits the Docker daemon's"
    say "configuration ($config: a runc wrapper as the default runtime, then SIGHUP to dockerd)."
    say "To allow that edit, run again with FRUITS_EDIT_DAEMON_JSON=1 (make e2e KIND_EDIT_DAEMON_JSON=1);"
    say "see docs/airgap.md, 'The Docker daemon configuration edit'."
    exit 1
fi
command -v jq >/dev/null || { say "jq is needed by the runtime wrapper (apt-get install jq)"; exit 1; }
[[ -n "$pid" ]] || { say "cannot find the dockerd process to reconfigure"; exit 1; }

install -D -m 0755 "$here/runc-wrapper.sh" "$wrapper"
say "docker run --privileged needs CAP_SYS_RESOURCE, which this host lacks: making $wrapper"
say "the default runtime of dockerd $pid ($config) and reloading it"
mkdir -p "$(dirname "$config")"
[[ -s "$config" ]] || echo '{}' >"$config"
jq --arg w "$wrapper" --arg r "$runtime" '.runtimes[$r] = {path: $w} | ."default-runtime" = $r' \
    "$config" >"$config.tmp" && mv "$config.tmp" "$config"
kill -HUP "$pid"
for _ in $(seq 20); do
    sleep 0.5
    if probe; then say "docker run --privileged works now"; exit 0; fi
done
say "docker run --privileged still fails:"
docker run --rm --privileged --net=none --entrypoint /bin/true "$image" >&2 || true
exit 1

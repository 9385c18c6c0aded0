#!/usr/bin/env bash
# Stop early, with a clear message, when a step is about to fill the disk: a build or an image
# import that runs out of space fails deep inside containerd or the Go linker, minutes later,
# with a message that names neither the step nor the folder.
#
#   hack/need-disk.sh GIB WHAT DIR...    exit 1 unless every DIR's file system has GIB GiB free
set -euo pipefail
need=${1:?usage: $0 GIB WHAT DIR...}
what=${2:?usage: $0 GIB WHAT DIR...}
shift 2
(( $# )) || { echo "usage: $0 GIB WHAT DIR..." >&2; exit 2; }
short=0
for dir in "$@"; do
    probe=$dir
    until [[ -e "$probe" ]]; do probe=$(dirname "$probe"); done  # a folder not made yet
    free_kib=$(df -Pk "$probe" | awk 'NR == 2 {print $4}')
    free_gib=$((free_kib / 1024 / 1024))
    if (( free_gib < need )); then
        echo ">> not enough disk for $what: $dir has ${free_gib} GiB free, ${need} GiB needed" >&2
        short=1
    fi
done
if (( short )); then
    echo ">> the largest folders that this project's tooling fills, and what frees them:" >&2
    for d in "${FRUITS_CACHE:-.cache}" "$(go env GOCACHE 2>/dev/null || true)" "$(go env GOMODCACHE 2>/dev/null || true)"; do
        if [[ -n "$d" && -d "$d" ]]; then du -sh "$d" 2>/dev/null | sed 's/^/>>   /' >&2 || true; fi
    done
    echo ">>   make kind-down (a cluster left by KEEP_CLUSTER), docker image prune (old builds)," >&2
    echo ">>   go clean -cache (Go's build cache; the next build recompiles)" >&2
    exit 1
fi

#!/usr/bin/env bash
# Print the local directory of a Go module version, downloading it through the module proxy
# into the Go module cache on first use (read-only there; nothing is copied into the repo).
#
# usage: hack/go-module-dir.sh MODULE@VERSION
set -euo pipefail
module_at_version=${1:?usage: $0 MODULE@VERSION}
# Outside any go.mod, so the download does not touch a module of this repository.
cd "${TMPDIR:-/tmp}"
json=$(GOFLAGS=-mod=mod go mod download -json "$module_at_version" 2>&1) || true
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
    printf 'go mod download %s failed:\n%s\n' "$module_at_version" "$json" >&2
    exit 1
fi
printf '%s\n' "$dir"

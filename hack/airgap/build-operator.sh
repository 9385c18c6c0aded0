#!/usr/bin/env bash
# Build the Kubeflow spark-operator controller binary from its Go module, on the host.
#
#   hack/airgap/build-operator.sh VERSION OUT_BINARY
#
# The module's go.mod has replace directives, so `go install module@version` refuses it; instead
# the pinned version is fetched into the Go module cache (`go mod download`) and built inside that
# unpacked, read-only module directory, the same way the project's own Dockerfile does it
# (`make build-operator`: static, version stamped). Nothing of its source lands in this repository.
set -euo pipefail

version="${1:?usage: $0 VERSION OUT_BINARY}"
out="$(realpath -m "${2:?usage: $0 VERSION OUT_BINARY}")"
module=github.com/kubeflow/spark-operator/v2

say() { echo ">> $*" >&2; }
command -v go >/dev/null || { say "Go is missing (https://go.dev/dl)"; exit 1; }

say "go mod download $module@$version"
# Run outside any module so the download does not touch a go.mod.
info="$(cd /tmp && go mod download -json "$module@$version")"
field() {
  local values
  values=$(sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info")
  echo "${values%%$'\n'*}"
}
dir="$(field Dir)"
commit="$(field Hash)"
[[ -d "$dir" ]] || { say "go mod download gave no module directory for $module@$version"; exit 1; }

mkdir -p "$(dirname "$out")"
# The version stamp the operator's own Makefile sets (k8s.io/component-base/version).
stamp=k8s.io/component-base/version
ldflags="-X $stamp.gitVersion=$version -X $stamp.gitCommit=${commit:-unknown} -X $stamp.gitTreeState=clean"
ldflags+=" -X $stamp.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) -extldflags -static"
say "go build spark-operator $version (first time: several minutes)"
(cd "$dir" && CGO_ENABLED=0 GOOS=linux GOFLAGS=-mod=readonly \
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp" ./cmd/operator)
mv "$out.tmp" "$out"
"$out" version >&2 || true

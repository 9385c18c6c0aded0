#!/usr/bin/env bash
# Build the other binaries of the kind node image from their Go modules: etcd (its server module
# has replace directives, so a throwaway wrapper module calls etcdmain.Main, as etcd's own main
# does), CoreDNS, crictl (kind calls it inside the node) and the static pause of hack/airgap/pause.
#
# usage: hack/airgap/build-components.sh OUT_DIR   (versions from versions.env / the environment)
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
: "${KIND_NODE_ETCD_VERSION:?}" "${KIND_NODE_COREDNS_VERSION:?}" "${KIND_NODE_CRICTL_VERSION:?}"
if [[ -f "$out/.done" ]]; then
    echo ">> etcd, coredns, crictl, pause already in $out"
    exit 0
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CGO_ENABLED=0 GOFLAGS=-mod=mod
work=$(mktemp -d "${TMPDIR:-/tmp}/kind-components.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo ">> etcd $KIND_NODE_ETCD_VERSION"
mkdir -p "$work/etcd" && cd "$work/etcd"
cat >go.mod <<MOD
module fruits.local/etcd

go 1.24
MOD
cat >main.go <<'SRC'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
SRC
go get "go.etcd.io/etcd/server/v3@$KIND_NODE_ETCD_VERSION" >/dev/null 2>&1
go mod tidy >/dev/null
go build -trimpath -ldflags '-s -w' -o "$out/etcd" .

echo ">> coredns $KIND_NODE_COREDNS_VERSION"
GOFLAGS='' GOBIN="$out" go install -trimpath -ldflags '-s -w' "github.com/coredns/coredns@$KIND_NODE_COREDNS_VERSION"

echo ">> crictl $KIND_NODE_CRICTL_VERSION"
GOFLAGS='' GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$KIND_NODE_CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$KIND_NODE_CRICTL_VERSION"

echo ">> pause"
cd "$here/pause" && go build -trimpath -ldflags '-s -w' -o "$out/pause" .

# Whole outputs captured first: a reader that stops early (head) would SIGPIPE the writer under pipefail.
etcd_version=$("$out/etcd" --version)
coredns_version=$("$out/coredns" -version)
echo "${etcd_version%%$'\n'*}"
echo "${coredns_version%%$'\n'*}"
touch "$out/.done"

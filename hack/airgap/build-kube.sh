#!/usr/bin/env bash
# Build the Kubernetes node and control-plane binaries of one release from the k8s.io/kubernetes
# Go module: kubelet, kubeadm, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler,
# kube-proxy. k8s.io/kubernetes cannot be built by version directly (its go.mod replaces every
# k8s.io staging module by a folder), so a throwaway wrapper module requires it and replaces each
# staging module by its published v0.MINOR.PATCH. The version is stamped in as upstream's
# hack/lib/version.sh does, or kubeadm reports a placeholder version.
#
# usage: hack/airgap/build-kube.sh v1.34.4 OUT_DIR
set -euo pipefail
version=${1:?usage: $0 KUBERNETES_VERSION OUT_DIR}
out=${2:?usage: $0 KUBERNETES_VERSION OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
commands=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ -f "$out/.done" ]]; then
    echo ">> Kubernetes $version binaries already in $out"
    exit 0
fi
src=$("$here/../go-module-dir.sh" "k8s.io/kubernetes@$version")
staging_version="v0.${version#v1.}"
minor=$(cut -d. -f2 <<<"$version")

work=$(mktemp -d "${TMPDIR:-/tmp}/kube-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
{
    echo "module fruits.local/kube-build"
    echo
    echo "go $(sed -n 's/^go //p' "$src/go.mod")"
    echo
    sed -n 's/^godebug /godebug /p' "$src/go.mod"
    echo "require k8s.io/kubernetes $version"
    echo
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$src/go.mod"
} >"$work/go.mod"
# One import per command keeps `go mod tidy` from dropping what the build needs.
{
    echo "//go:build tools"
    echo "package tools"
    echo "import ("
    for c in "${commands[@]}"; do echo "    _ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
} >"$work/tools.go"

cd "$work"
echo ">> resolving k8s.io/kubernetes $version (staging modules at $staging_version)"
GOFLAGS=-mod=mod go mod tidy >/dev/null

ldflags=(-s -w)
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=(
        -X "$pkg.gitVersion=$version"
        -X "$pkg.gitMajor=1"
        -X "$pkg.gitMinor=$minor"
        -X "$pkg.gitTreeState=clean"
        -X "$pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    )
done

pkgs=()
for c in "${commands[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
echo ">> go build ${commands[*]} (first time: 30-60 min on 2 cores)"
start=$SECONDS
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags 'providerless' \
    -ldflags "${ldflags[*]}" -o "$out/" "${pkgs[@]}"
built=("$out"/*)
echo ">> built in $((SECONDS - start)) s: ${built[*]##*/}"
"$out/kubeadm" version -o short
touch "$out/.done"

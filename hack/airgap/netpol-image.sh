#!/usr/bin/env bash
# The NetworkPolicy engine of the kind run (hack/kind/netpol.yaml): kube-router's firewall only
# (no routing, no service proxy), built from its Go module on the host, with Debian's iptables and
# ipset on the base image. The node image's own pod network enforces no policy; kube-router's
# iptables + ipset rules do, on this kernel too (no nftables queue needed, unlike
# kube-network-policies). Its dependencies with published fixes are raised first (UPGRADES, a
# comma-separated list of MODULE@VERSION, `go get` in a throwaway build module). Rebuilt only when
# the pins, this script or the base image change.
#
# usage: hack/airgap/netpol-image.sh IMAGE BASE_IMAGE KUBE_ROUTER_VERSION UPGRADES
set -euo pipefail
usage="usage: $0 IMAGE BASE_IMAGE KUBE_ROUTER_VERSION UPGRADES"
image=${1:?$usage} base=${2:?$usage} version=${3:?$usage} upgrades=${4-}
module=github.com/cloudnativelabs/kube-router/v2
say() { echo ">> $*" >&2; }
command -v go >/dev/null || { say "Go is missing (https://go.dev/dl)"; exit 1; }
sum=$({ cat "$0"; echo "$version $upgrades"; docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)
if [[ $(docker image inspect -f '{{index .Config.Labels "org.fruits.netpol-sha256"}}' "$image" 2>/dev/null) == "$sum" ]]; then
    say "$image is up to date"
    exit 0
fi
start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/netpol-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/mod" "$work/ctx"
IFS=, read -r -a raised <<<"$upgrades"
say "go build kube-router $version (raised: ${raised[*]:-none}; first time: several minutes)"
(
    cd "$work/mod"
    go mod init fruits.local/netpol-build >/dev/null 2>&1
    GOFLAGS=-mod=mod go get "$module/cmd/kube-router@$version" "${raised[@]}"
    # Every raise must hold: go get may settle a module elsewhere than asked.
    for pin in "${raised[@]}"; do
        got=$(go list -m -f '{{.Version}}' "${pin%@*}")
        [[ "$got" == "${pin#*@}" ]] || { say "go get gave ${pin%@*} $got, not ${pin#*@}"; exit 1; }
    done
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -extldflags -static \
        -X $module/pkg/version.Version=$version -X $module/pkg/version.BuildDate=pinned" \
        -o "$work/ctx/kube-router" "$module/cmd/kube-router"
)
"$work/ctx/kube-router" --version >&2
cat >"$work/ctx/Dockerfile" <<DOCKERFILE
FROM $base
RUN set -eux; apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables ipset; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log; \
    iptables --version; command -v ipset
COPY kube-router /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]
DOCKERFILE
say "docker build $image"
docker build -q -t "$image" --label org.fruits.netpol-sha256="$sum" "$work/ctx" >/dev/null
say "built $image in $((SECONDS - start)) s"

#!/usr/bin/env bash
# Build the kind node image from nothing but Go modules and the Debian mirror, for machines that
# cannot pull kindest/node (and where `kind build node-image` cannot fetch its inputs):
#   1. Kubernetes binaries (build-kube.sh) and etcd, CoreDNS, crictl, pause (build-components.sh),
#      cached under CACHE_DIR, so a second build compiles nothing;
#   2. the images kubeadm runs (`kubeadm config images list`, tags exactly as printed), each the
#      binary on scratch, kube-proxy on Debian (its nftables mode calls nft), saved to one tarball;
#   3. the node image (hack/airgap/node/Dockerfile) with kind's base files taken from the kind Go
#      module at KIND_VERSION, never stored in this repository.
#
# usage: hack/airgap/build-node-image.sh NODE_IMAGE CACHE_DIR
# env:   KIND_VERSION KIND_NODE_* (versions.env), BASE_IMAGE (default debian:bookworm-slim)
set -euo pipefail
node_image=${1:?usage: $0 NODE_IMAGE CACHE_DIR}
cache=${2:?usage: $0 NODE_IMAGE CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
: "${KIND_VERSION:?}" "${KIND_NODE_KUBERNETES_VERSION:?}" "${KIND_NODE_ETCD_VERSION:?}" \
  "${KIND_NODE_COREDNS_VERSION:?}" "${KIND_NODE_PAUSE_VERSION:?}" "${KIND_NODE_CRICTL_VERSION:?}"
base_image=${BASE_IMAGE:-debian:bookworm-slim}
say() { echo ">> $*"; }
start=$SECONDS

if docker image inspect "$node_image" >/dev/null 2>&1; then
    say "node image $node_image already built"
    exit 0
fi
# Kubernetes' compile fills Go's build cache (about 7 GiB), its modules about 5 GiB more.
"$here/../need-disk.sh" "${KIND_NODE_DISK_GIB:-20}" "building the kind node image" \
    "$cache" "$(go env GOCACHE)" "$(go env GOMODCACHE)" "$(docker info -f '{{.DockerRootDir}}')"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
kube_bin="$cache/kubernetes-$KIND_NODE_KUBERNETES_VERSION/bin"
comp_bin="$cache/components-etcd$KIND_NODE_ETCD_VERSION-coredns$KIND_NODE_COREDNS_VERSION-crictl$KIND_NODE_CRICTL_VERSION"
"$here/build-kube.sh" "$KIND_NODE_KUBERNETES_VERSION" "$kube_bin"
"$here/build-components.sh" "$comp_bin"

# What kubeadm will ask the kubelet to run, by its own list.
mapfile -t wanted < <("$kube_bin/kubeadm" config images list --kubernetes-version "$KIND_NODE_KUBERNETES_VERSION")
say "kubeadm wants: ${wanted[*]}"
image_for() { printf '%s\n' "${wanted[@]}" | grep -E "/$1:" ; }
for want in pause etcd coredns; do
    case $want in
        pause) have="$KIND_NODE_PAUSE_VERSION" ;;
        etcd) have="${KIND_NODE_ETCD_VERSION#v}-0" ;;
        coredns) have="$KIND_NODE_COREDNS_VERSION" ;;
    esac
    tag=$(image_for "$want")
    [[ "${tag##*:}" == "$have" ]] || { say "kubeadm wants $tag, versions.env pins $have: fix the pin"; exit 1; }
done

ctx=$(mktemp -d "${TMPDIR:-/tmp}/kind-node.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# 2. one small image per component
build_scratch() { # TAG BINARY PATH_IN_IMAGE
    local dir
    dir="$ctx/img-$(basename "$2")"
    mkdir -p "$dir/rootfs/tmp" "$dir/rootfs/$(dirname "$3")"
    chmod 1777 "$dir/rootfs/tmp"
    cp "$2" "$dir/rootfs/$3"
    printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT ["%s"]\n' "$3" >"$dir/Dockerfile"
    docker build -q -t "$1" "$dir" >/dev/null
}
say "component images"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
    build_scratch "$(image_for "$c")" "$kube_bin/$c" "/usr/local/bin/$c"
done
build_scratch "$(image_for etcd)" "$comp_bin/etcd" /usr/local/bin/etcd
build_scratch "$(image_for coredns)" "$comp_bin/coredns" /coredns
build_scratch "$(image_for pause)" "$comp_bin/pause" /pause
mkdir -p "$ctx/img-kube-proxy"
cp "$kube_bin/kube-proxy" "$ctx/img-kube-proxy/"
cat >"$ctx/img-kube-proxy/Dockerfile" <<DOCKERFILE
FROM $base_image
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nftables iptables conntrack ipset kmod >/dev/null && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
DOCKERFILE
docker build -q -t "$(image_for kube-proxy)" "$ctx/img-kube-proxy" >/dev/null

# 3. the node image
say "staging the node image context (kind $KIND_VERSION base files)"
kind_dir=$("$here/../go-module-dir.sh" "sigs.k8s.io/kind@$KIND_VERSION")
mkdir -p "$ctx/node/bin" "$ctx/node/images"
cp -r "$kind_dir/images/base/files" "$ctx/node/kind-base"
chmod -R u+w "$ctx/node/kind-base"
cp "$here/node/Dockerfile" "$here/node/kind-pod-network.sh" "$here/node/kind-pod-network.service" \
   "$here/node/kind-preload-images.service" "$ctx/node/"
cp "$kube_bin/kubelet" "$kube_bin/kubeadm" "$kube_bin/kubectl" "$comp_bin/crictl" "$ctx/node/bin/"
docker save "${wanted[@]}" -o "$ctx/node/images/kubernetes-$KIND_NODE_KUBERNETES_VERSION.tar"
say "docker build $node_image"
docker build -t "$node_image" \
    --build-arg BASE_IMAGE="$base_image" \
    --build-arg KUBERNETES_VERSION="$KIND_NODE_KUBERNETES_VERSION" \
    --build-arg PAUSE_IMAGE="$(image_for pause)" \
    --label org.fruits.kind-version="$KIND_VERSION" \
    "$ctx/node"
say "node image $node_image built in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$node_image" | awk '{printf "%d MB", $1/1e6}'))"
